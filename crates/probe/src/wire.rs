//! The connection under the probe's two bounds: one deadline for
//! everything (connect, the STARTTLS dialogue, the handshake) and one
//! budget of bytes for everything read. Every read and write sets the
//! socket timeout to the time left, so a server that stalls costs at most
//! the deadline; every read is cut to the bytes left, so a server that
//! talks forever costs at most the budget. The plaintext dialogue reads
//! through [`Wire::line`] and friends; rustls reads through `Read`, and
//! when that fails [`Wire::fail`] says whether a bound was the reason.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::error::{quote, ErrorKind, Fail};

/// Bytes asked of the socket at once.
const CHUNK: usize = 4096;

/// Which bound stopped the last read or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bound {
    Time,
    Bytes,
}

/// A TCP connection with a deadline and a read budget.
pub(crate) struct Wire {
    stream: TcpStream,
    deadline: Instant,
    /// The whole probe's time, for messages.
    timeout: Duration,
    /// Bytes the server may still send.
    left: usize,
    /// The byte budget, for messages.
    max: usize,
    /// Read from the socket, not yet taken by the dialogue.
    buf: Vec<u8>,
    /// Set when a bound ended a read or write.
    hit: Option<Bound>,
}

impl Wire {
    /// Connect to `addr` before the deadline.
    pub fn connect(addr: SocketAddr, timeout: Duration, max: usize) -> Result<Wire, Fail> {
        let deadline = Instant::now() + timeout;
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
            let kind = match e.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ErrorKind::Timeout,
                _ => ErrorKind::Connect,
            };
            Fail::new("connect", kind, e.to_string())
        })?;
        // The dialogue is small request/answer exchanges.
        let _ = stream.set_nodelay(true);
        Ok(Wire {
            stream,
            deadline,
            timeout,
            left: max,
            max,
            buf: Vec::new(),
            hit: None,
        })
    }

    /// Our end's address (SMTP's EHLO names it).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.stream.local_addr().ok()
    }

    /// Time left before the deadline, or the bound that is hit.
    fn time_left(&mut self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            self.hit = Some(Bound::Time);
            return Err(io::ErrorKind::TimedOut.into());
        }
        Ok(left)
    }

    /// The failure of `step` after an I/O error `e`: a bound if one was
    /// hit, the end of the stream, else the error itself.
    pub fn fail(&self, step: &str, e: &io::Error) -> Fail {
        match self.hit {
            Some(Bound::Time) => self.timed_out(step),
            Some(Bound::Bytes) => Fail::new(
                step,
                ErrorKind::TooLong,
                format!("more than {} bytes read", self.max),
            ),
            None if e.kind() == io::ErrorKind::UnexpectedEof => {
                Fail::new(step, ErrorKind::Closed, "connection closed by the server")
            }
            // A server that closes with our bytes unread resets the connection.
            None if matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
            ) =>
            {
                Fail::new(step, ErrorKind::Closed, "connection reset by the server")
            }
            None => Fail::new(step, ErrorKind::Io, e.to_string()),
        }
    }

    fn timed_out(&self, step: &str) -> Fail {
        Fail::new(
            step,
            ErrorKind::Timeout,
            format!("no answer within the probe's {:?}", self.timeout),
        )
    }

    /// Read more into the buffer for `step`; the end of the stream is an error.
    pub fn fill(&mut self, step: &str) -> Result<(), Fail> {
        let mut chunk = [0u8; CHUNK];
        let n = self.receive(&mut chunk).map_err(|e| self.fail(step, &e))?;
        if n == 0 {
            return Err(Fail::new(
                step,
                ErrorKind::Closed,
                "connection closed by the server",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// What has been read and not yet taken.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Take the first `n` buffered bytes.
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        self.buf.drain(..n).collect()
    }

    /// The next line (without CR LF) for `step`, lossily UTF-8.
    pub fn line(&mut self, step: &str) -> Result<String, Fail> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line = self.take(i + 1);
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            self.fill(step)?;
        }
    }

    /// Exactly `n` bytes for `step`.
    pub fn exact(&mut self, n: usize, step: &str) -> Result<Vec<u8>, Fail> {
        while self.buf.len() < n {
            self.fill(step)?;
        }
        Ok(self.take(n))
    }

    /// Send `bytes` for `step`.
    pub fn send(&mut self, bytes: &[u8], step: &str) -> Result<(), Fail> {
        self.write_all(bytes).map_err(|e| self.fail(step, &e))
    }

    /// Before the handshake: nothing may be left over from the plaintext
    /// dialogue. Bytes the server sent after its go-ahead and before our
    /// ClientHello are not TLS (a server speaks second in TLS); taking them
    /// as the start of the handshake would let a man in the middle inject
    /// them (the STARTTLS injection flaw, CVE-2011-0411, mirrored).
    pub fn expect_drained(&self, step: &str) -> Result<(), Fail> {
        if self.buf.is_empty() {
            return Ok(());
        }
        Err(Fail::new(
            step,
            ErrorKind::Garbage,
            format!("data after the go-ahead: \"{}\"", quote(&self.buf)),
        ))
    }
}

impl Read for Wire {
    /// What is buffered first, then the socket.
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if !self.buf.is_empty() {
            let n = out.len().min(self.buf.len());
            out[..n].copy_from_slice(&self.buf[..n]);
            self.buf.drain(..n);
            return Ok(n);
        }
        self.receive(out)
    }
}

impl Wire {
    /// Read from the socket within both bounds (never from the buffer).
    fn receive(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            self.hit = Some(Bound::Bytes);
            return Err(io::Error::other("read budget spent"));
        }
        let left = self.time_left()?;
        self.stream.set_read_timeout(Some(left))?;
        let want = out.len().min(self.left);
        match self.stream.read(&mut out[..want]) {
            Ok(n) => {
                self.left -= n;
                Ok(n)
            }
            Err(e) => {
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) {
                    self.hit = Some(Bound::Time);
                }
                Err(e)
            }
        }
    }
}

impl Write for Wire {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let left = self.time_left()?;
        self.stream.set_write_timeout(Some(left))?;
        self.stream.write(bytes).inspect_err(|e| {
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) {
                self.hit = Some(Bound::Time);
            }
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}
