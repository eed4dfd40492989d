package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkget/bulkget/scheduler"
)

// BenchmarkClientFloor is what many-small allows a client that does
// nothing but fetch: 16 goroutines, each sending ranged GETs one after
// another through bulkget's own HTTP client and throwing the bodies away,
// with no files, no list and no process to start. It measures the origin's
// real turnaround (its 5 ms timer fires late, and every request wakes two
// processes twice) against the nominal floor, so that bulkget's own figure
// can be read against what is reachable at all. (The origin runs in this
// process, which is fair only where the run waits on latency, not CPU.)
//
// The -raw variant goes further down: plain sockets, a request written as
// one fixed string, the response parsed only for its Content-Length. It is
// as close to the origin's own limit as a client can get, so the gap
// between it and the nominal floor is the origin's and the machine's.
//
//	go test -run='^$' -bench=ClientFloor -benchtime=5x ./bench
func BenchmarkClientFloor(b *testing.B) {
	for _, name := range []string{"many-small"} {
		b.Run(name, func(b *testing.B) { benchFloor(b, name, false) })
		b.Run(name+"-raw", func(b *testing.B) { benchFloor(b, name, true) })
	}
}

func benchFloor(b *testing.B, name string, raw bool) {
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
	client := scheduler.NewClient(scheduler.ClientOptions{MaxPerHost: conns, ConnectTimeout: 10 * time.Second})
	defer client.CloseIdleConnections()
	fetch := func() error { return fetchAll(client, urls, conns) }
	if raw {
		fetch = func() error { return fetchRaw(urls, conns) }
	}
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := fetch(); err != nil {
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

// fetchRaw GETs every URL over conns plain TCP connections with the least
// work a client can do: one write of a fixed request, the header lines
// scanned for Content-Length, the body read and dropped.
func fetchRaw(urls []string, conns int) error {
	reqs := make([]string, len(urls))
	var addr string
	for i, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			return err
		}
		addr = u.Host
		reqs[i] = "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nRange: bytes=0-\r\n\r\n"
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			br := bufio.NewReaderSize(c, 128<<10)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(reqs) {
					return
				}
				if _, err := io.WriteString(c, reqs[i]); err != nil {
					errs <- err
					return
				}
				if err := discardResponse(br); err != nil {
					errs <- fmt.Errorf("%s: %w", urls[i], err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func discardResponse(br *bufio.Reader) error {
	length := int64(-1)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			if length, err = strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64); err != nil {
				return err
			}
		}
	}
	if length < 0 {
		return errors.New("no Content-Length")
	}
	_, err := br.Discard(int(length))
	return err
}
