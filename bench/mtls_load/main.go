// mtls_load: a small HTTP load generator for bench/mtls.py (wrk cannot present a client
// certificate). C keep-alive connections, each a goroutine sending GETs back to back for
// D seconds; with -cert/-key/-ca it speaks TLS with that client certificate. Prints one
// JSON line: requests, requests/s, p99 ms, errors. Standard library only.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "", "the URL to GET")
	seconds := flag.Float64("d", 3, "seconds")
	conns := flag.Int("c", 32, "connections")
	cert := flag.String("cert", "", "client certificate (PEM)")
	key := flag.String("key", "", "client key (PEM)")
	ca := flag.String("ca", "", "CA roots (PEM)")
	sni := flag.String("sni", "", "server name to verify")
	flag.Parse()
	transport := &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns, DisableCompression: true}
	if *cert != "" {
		pair, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pool := x509.NewCertPool()
		pem, err := os.ReadFile(*ca)
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintln(os.Stderr, "cannot read the CA roots", err)
			os.Exit(1)
		}
		transport.TLSClientConfig = &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, ServerName: *sni}
	}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	deadline := time.Now().Add(time.Duration(*seconds * float64(time.Second)))
	var mu sync.Mutex
	var latencies []time.Duration
	errors := 0
	var wg sync.WaitGroup
	started := time.Now()
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for time.Now().Before(deadline) {
				t := time.Now()
				resp, err := client.Get(*url)
				if err != nil {
					bad++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					bad++
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			errors += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(started).Seconds()
	sort.Slice(latencies, func(a, b int) bool { return latencies[a] < latencies[b] })
	p99 := 0.0
	if len(latencies) > 0 {
		p99 = float64(latencies[len(latencies)*99/100].Microseconds()) / 1000
	}
	out, _ := json.Marshal(map[string]any{
		"requests": len(latencies), "rps": float64(len(latencies)) / elapsed, "p99_ms": p99, "errors": errors,
	})
	fmt.Println(string(out))
}
