#!/bin/sh
# Test fixture for certdrop-zone's tlsa.rs: a throwaway PKI made with
# openssl in the current directory: root -> intermediate -> an RSA leaf and
# an EC (P-384) leaf, laid out as store lines certs/rsa/ and certs/ec/
# (cert.pem chain.pem fullchain.pem pubkey.pem), plus next.pem, a spare
# public key for the key-rollover test.
set -eu
q() { "$@" >/dev/null 2>&1; }
q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout ca.key -out ca.pem -days 30 -subj "/CN=Test Root"
q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout int.key -out int.csr -subj "/CN=Test Intermediate"
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' >int.ext
q openssl x509 -req -in int.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -out int.pem -days 30 -extfile int.ext
printf 'subjectAltName=DNS:www.example.org\n' >leaf.ext
for line in rsa ec; do
    if [ "$line" = rsa ]; then
        q openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:2048 -out $line.key
    else
        q openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-384 -out $line.key
    fi
    q openssl req -new -key $line.key -out $line.csr -subj "/CN=www.example.org"
    mkdir -p certs/$line
    q openssl x509 -req -in $line.csr -CA int.pem -CAkey int.key -CAcreateserial \
        -out certs/$line/cert.pem -days 30 -extfile leaf.ext
    cp int.pem certs/$line/chain.pem
    cat certs/$line/cert.pem int.pem >certs/$line/fullchain.pem
    openssl pkey -in $line.key -pubout -out certs/$line/pubkey.pem
done
q openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out next.key
openssl pkey -in next.key -pubout -out next.pem
