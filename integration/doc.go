// Package integration runs the real bulkget binary against real web
// servers: nginx, caddy for HTTP/2 over TLS, and HAProxy in front of nginx
// replicas. It holds only tests.
//
// Each test starts its own server on 127.0.0.1, on free ports, with a
// configuration it writes into t.TempDir(): no system configuration, no
// root, nothing left running after the test (servers are killed in
// t.Cleanup). It fills the server's document root with deterministic
// content, runs bulkget as a user would (a list file, `-d DIR`,
// `--progress plain`), and checks the SHA-256 of every file, the exit
// status, the messages, and the server's access log (JSON lines), which
// tells what bulkget really asked for: ranges, protocols, headers.
//
// A server that is not installed makes its tests skip with a message
// saying so; .ci/run installs nginx, caddy and haproxy from Debian's
// packages.
package integration
