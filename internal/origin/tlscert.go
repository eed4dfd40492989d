package origin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"time"
)

// One certificate is shared by every TLS server in the process: generating
// keys per server would only slow tests down, and each server still hands out
// its own pool.
var (
	certOnce sync.Once
	certTLS  tls.Certificate
	certX509 *x509.Certificate
)

func testCert() (tls.Certificate, *x509.CertPool) {
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic("origin: generate key: " + err.Error())
		}
		now := time.Now()
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(now.UnixNano()),
			Subject:               pkix.Name{CommonName: "bulkget test origin"},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
			IsCA:                  true,
			DNSNames:              []string{"localhost"},
			IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic("origin: create certificate: " + err.Error())
		}
		certX509, err = x509.ParseCertificate(der)
		if err != nil {
			panic("origin: parse certificate: " + err.Error())
		}
		certTLS = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: certX509}
	})
	pool := x509.NewCertPool()
	pool.AddCert(certX509)
	return certTLS, pool
}
