// Package bench holds bulkget's end-to-end benchmarks. Each scenario starts
// the test origin (internal/origin) in the benchmark process, runs the real
// bulkget binary as a child process against it, verifies the SHA-256 of
// every file, and reports what users compare: wall time as a ratio to the
// ideal the origin's caps allow, CPU seconds (user+sys) per GiB, and the
// child's peak RSS. Figures go through b.ReportMetric, so benchstat works.
//
//	go test -run='^$' -bench=. -benchtime=1x ./bench
//
// The scenarios are heavy (a GiB of disk and tens of seconds each), so they
// run only under -bench, never in the default test run.
package bench
