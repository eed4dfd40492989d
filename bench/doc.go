// Package bench is bulkget's benchmark suite: scenarios, the tools it
// compares (bulkget and the peers aria2c, wget2, axel and curl), and the
// runner that measures them. The command is bench/suite:
//
//	go run ./bench/suite                                # every scenario, every installed tool
//	go run ./bench/suite -scenarios tail -peers bulkget,aria2c -out results.md
//
// For each scenario the suite starts the test origin (internal/origin) in
// its own process, with the scenario's per-connection cap, latency, faults
// or TLS, and runs each tool as a child process with a total budget of 16
// connections, one tool at a time. A scenario's latency is a delay before
// the response headers of every request, one round trip per request;
// connection set-up is not delayed (the -rtt scenarios put 20 ms or 100 ms
// on every request). Each tool runs three times (-repeat) in an order
// rotated every round, so that none is always first after the previous
// scenario's clean-up; the table shows the run with the median
// wall time and the spread, and a repetition that got fewer files right.
// A run of RepeatUnder or more is not repeated. Before each run the
// filesystem is synced, so no tool pays for writing back what an earlier
// one left, and files are verified with O_NOATIME, so verifying does not
// dirty their inodes. Each run gets a fresh temporary folder
// (its input list, an empty output folder, and an empty HOME so that no
// user configuration applies) that is removed afterwards, and a timeout
// (10 minutes by default) after which its process group is killed. Every
// output file's SHA-256 is compared with origin.SHA256Hex.
//
// # What is measured
//
//   - wall time from the start of the first process to the end of the last
//     (axel takes no list, so it runs once per file, one after the other);
//   - the ratio to the ideal, (files × latency + bytes ÷ per-connection cap)
//     ÷ 16: bytes ÷ (16 × cap) when the origin is capped, the latency floor
//     files × latency ÷ 16 when it only has latency, none when it has
//     neither;
//   - CPU seconds, user + system, and peak RSS, from the child's rusage
//     (os.ProcessState.SysUsage), summed and maximised over axel's runs;
//   - files right out of total, files missing or corrupt, and files wrong
//     although the tool exited with status 0 (silent corruption);
//   - the origin's counts of TCP connections (total and most open at once)
//     and requests, which show whether a tool kept to its budget.
//
// FaultScenarios are probes of one fault each (the first two requests of
// every file reset, 5xx, 429, stalled, short or with a shifted range); they
// run with -scenarios faults and are not part of all.
//
// AdaptiveScenarios are hosts where the right number of connections is not
// the budget (a per-connection cap, a total cap, a limit of 4 requests in
// flight, one-second bursts), each at 20 ms and 100 ms; they run with
// -scenarios adaptive. Their ideal is the host's caps whatever the number
// of connections, and their table adds the requests refused (429/503) and
// the bytes served beyond the files' size. -variants runs bulkget with
// other arguments side by side (each list without the budget's -c):
//
//	go run ./bench/suite -scenarios adaptive -peers aria2c,wget2,axel,curl \
//		-variants ",-c 4,-c 16,-c 40 --max-per-host 40" -repeat 1
//
// A tool that is not installed is skipped with a note; one that fails,
// hangs or writes wrong bytes shows it in the table. The origin runs in the
// suite's process and its CPU is not counted, but it shares the machine.
//
// # Go benchmarks
//
// The same scenarios, for bulkget alone, are Go benchmarks reporting the
// same figures through b.ReportMetric, for benchstat:
//
//	go test -run='^$' -bench=. -benchtime=1x ./bench
//
// They are heavy (up to 2 GiB of disk and minutes each), so they run only
// under -bench; the package's tests are quick checks of the pure parts.
package bench
