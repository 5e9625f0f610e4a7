//! The fault proxy's random mode: a seeded rate of faults over every
//! request, each fault drawn from a set ([`RandomFaults`]). For the fault
//! benchmark (issue 11), where "20 % of requests fail" must hit every
//! endpoint alike and be repeatable from its seed.

use super::{Endpoint, Fault};

/// One kind of fault the random mode can draw, with a short name for
/// counters and command lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RandomFault {
    /// 500 with a `serverInternal` problem, no Retry-After.
    Status500,
    /// 503 with a `serverInternal` problem and `Retry-After: 1`.
    Status503,
    /// A TCP reset instead of an answer (the request never reaches Pebble).
    Reset,
    /// Forwarded to Pebble (it takes effect), the answer dropped.
    Lost,
}

impl RandomFault {
    /// Every kind, in the order of their names.
    pub const ALL: [RandomFault; 4] = [
        RandomFault::Status500,
        RandomFault::Status503,
        RandomFault::Reset,
        RandomFault::Lost,
    ];

    /// Its name: `500`, `503`, `reset` or `lost`.
    pub fn name(self) -> &'static str {
        match self {
            RandomFault::Status500 => "500",
            RandomFault::Status503 => "503",
            RandomFault::Reset => "reset",
            RandomFault::Lost => "lost",
        }
    }

    /// The kind called `name` (see [`RandomFault::name`]).
    pub fn parse(name: &str) -> Option<RandomFault> {
        RandomFault::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The proxy fault it stands for.
    pub fn fault(self) -> Fault {
        match self {
            RandomFault::Status500 => Fault::status(500),
            // One second: enough to show whether a client honours it,
            // short enough to keep a benchmark run short.
            RandomFault::Status503 => Fault::status(503).retry_after_secs(1),
            RandomFault::Reset => Fault::Reset,
            RandomFault::Lost => Fault::Lost,
        }
    }
}

/// Fault `percent` % of all requests (every endpoint), each with a kind
/// drawn evenly from `kinds`; the same seed and the same sequence of
/// requests give the same faults.
#[derive(Clone, Debug)]
pub struct RandomFaults {
    /// Share of requests faulted, 0-100.
    pub percent: u8,
    /// The kinds drawn from (none: no fault).
    pub kinds: Vec<RandomFault>,
    /// Seed of the generator.
    pub seed: u64,
}

impl RandomFaults {
    /// `percent` % of requests, every kind in [`RandomFault::ALL`].
    pub fn all_kinds(percent: u8, seed: u64) -> RandomFaults {
        RandomFaults {
            percent,
            kinds: RandomFault::ALL.to_vec(),
            seed,
        }
    }
}

/// The running random mode: its settings and generator state.
pub(super) struct Roller {
    settings: RandomFaults,
    state: u64,
}

impl Roller {
    pub(super) fn new(settings: RandomFaults) -> Roller {
        let state = settings.seed;
        Roller { settings, state }
    }

    /// The fault for the next request (to `_endpoint`: every endpoint alike), if any.
    pub(super) fn roll(&mut self, _endpoint: Endpoint) -> Option<RandomFault> {
        let r = self.next();
        let n = self.settings.kinds.len() as u64;
        if n == 0 || r % 100 >= u64::from(self.settings.percent) {
            return None;
        }
        // A second draw for the kind, so rate and kind are independent.
        let k = self.next() % n;
        self.settings.kinds.get(usize::try_from(k).ok()?).copied()
    }

    /// splitmix64 (Steele, Lea, Flood 2014): tiny, seedable, good enough
    /// to spread faults; no dependency for it.
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rolls(settings: RandomFaults, n: usize) -> Vec<Option<RandomFault>> {
        let mut r = Roller::new(settings);
        (0..n).map(|_| r.roll(Endpoint::Order)).collect()
    }

    #[test]
    fn the_rate_holds_every_kind_is_drawn_and_the_seed_repeats() {
        let n = 10_000;
        let got = rolls(RandomFaults::all_kinds(20, 7), n);
        let faulted = got.iter().flatten().count();
        assert!((1_800..=2_200).contains(&faulted), "{faulted} of {n}");
        for k in RandomFault::ALL {
            let c = got.iter().flatten().filter(|f| **f == k).count();
            assert!((400..=600).contains(&c), "{k:?}: {c} of {faulted}");
        }
        assert_eq!(got, rolls(RandomFaults::all_kinds(20, 7), n));
        assert_ne!(got, rolls(RandomFaults::all_kinds(20, 8), n));
    }

    #[test]
    fn zero_percent_or_no_kinds_is_no_fault() {
        assert!(rolls(RandomFaults::all_kinds(0, 1), 1000)
            .iter()
            .all(Option::is_none));
        let none = RandomFaults {
            percent: 100,
            kinds: Vec::new(),
            seed: 1,
        };
        assert!(rolls(none, 1000).iter().all(Option::is_none));
        let only_lost = RandomFaults {
            percent: 100,
            kinds: vec![RandomFault::Lost],
            seed: 1,
        };
        assert!(rolls(only_lost, 100)
            .iter()
            .all(|f| *f == Some(RandomFault::Lost)));
    }

    #[test]
    fn names_parse_back() {
        for k in RandomFault::ALL {
            assert_eq!(RandomFault::parse(k.name()), Some(k));
        }
        assert_eq!(RandomFault::parse("stall"), None);
    }
}
