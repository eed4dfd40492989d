// Package httpclient builds the one HTTP client a run sends its requests
// through, with every rule about how bulkget talks to servers in one place:
//
//   - a transport cloned from http.DefaultTransport (proxy settings kept),
//     HTTP/1.1 only unless Options.HTTP2, so that segments get separate
//     TCP connections; no compression, since ranges must be ranges of the
//     stored bytes; no overall timeout, which would cut long bodies;
//   - TLS: the system's roots or Options.RootCAs (LoadCACerts), a client
//     certificate (LoadClientCert), or no verification (Options.Insecure);
//   - credentials from a netrc file, each hop of a redirect getting only
//     its own host's entry;
//   - headers the user gave (Options.Private) dropped when a redirect
//     leaves the list's host; at most MaxRedirects redirects, to http(s)
//     only.
//
// A caller that wants to watch or reroute requests wraps the client's
// Transport, which keeps every rule above: the TLS settings and netrc sit
// below it, the redirect rules in the client above it. The client is safe
// for concurrent use, as net/http's is.
package httpclient
