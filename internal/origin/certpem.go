package origin

import "encoding/pem"

// CertPEM returns the server's TLS certificate (self-signed, so also its own
// CA) PEM-encoded, for clients that read trust anchors from a file
// (SSL_CERT_FILE, curl --cacert, aria2c --ca-certificate). It is nil for a
// plain HTTP server.
func (s *Server) CertPEM() []byte {
	if s.pool == nil {
		return nil
	}
	cert, _ := testCert()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
}
