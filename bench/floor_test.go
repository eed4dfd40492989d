package bench

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkget/bulkget/httpclient"
)

// BenchmarkClientFloor is what many-small allows a client that does
// nothing but fetch: 16 goroutines, each sending ranged GETs one after
// another through bulkget's own HTTP client and throwing the bodies away,
// with no files, no list and no process to start. It measures the origin's
// real turnaround (its 5 ms timer fires late, and every request wakes two
// processes twice) against the nominal floor, so that bulkget's own figure
// can be read against what is reachable at all. (The origin runs in this
// process, which is fair only where the run waits on latency, not CPU.)
// The same without bulkget's client, over raw sockets and in a process of
// its own, is `go run ./bench/floor -scenario many-small -mode discard`.
//
//	go test -run='^$' -bench=ClientFloor -benchtime=5x ./bench
func BenchmarkClientFloor(b *testing.B) {
	for _, name := range []string{"many-small"} {
		b.Run(name, func(b *testing.B) { benchFloor(b, name) })
	}
}

func benchFloor(b *testing.B, name string) {
	s, err := Lookup(name)
	if err != nil {
		b.Fatal(err)
	}
	f := Start(s)
	defer f.Close()
	files := s.Files()
	urls := make([]string, len(files))
	for i, file := range files {
		urls[i] = f.Server.URL(file.Name)
	}
	conns := s.Conns()
	client := httpclient.New(httpclient.Options{MaxPerHost: conns, ConnectTimeout: 10 * time.Second})
	defer client.CloseIdleConnections()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := fetchAll(client, urls, conns); err != nil {
			b.Fatal(err)
		}
		wall := time.Since(start)
		b.ReportMetric(wall.Seconds(), "wall-s")
		if ideal := s.Ideal(); ideal > 0 {
			b.ReportMetric(wall.Seconds()/ideal.Seconds(), "x-ideal")
		}
	}
}

// fetchAll GETs every URL (as bulkget's first request for a file asks:
// from byte 0 on) over conns goroutines and checks each length.
func fetchAll(client *http.Client, urls []string, conns int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		wg.Go(func() {
			buf := make([]byte, 128<<10)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(urls) {
					return
				}
				req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, urls[i], nil)
				if err != nil {
					errs <- err
					return
				}
				req.Header.Set("Range", "bytes=0-")
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				// Hiding Discard's ReadFrom makes the copy read into buf, in
				// large reads, as bulkget does.
				n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, resp.Body, buf)
				resp.Body.Close()
				if err == nil && n != resp.ContentLength {
					err = io.ErrUnexpectedEOF
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}
