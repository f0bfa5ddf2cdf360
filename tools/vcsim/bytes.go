package main

// What the SOAP answers cost on the wire: GET /bytes gives the bytes sent by SOAP method
// (after compression), so a benchmark can tell what an exporter's property retrieval,
// update calls and perf queries cost vCenter to send. POST /compression {"gzip": true}
// gzips answers for clients that send Accept-Encoding: gzip, as vCenter does from 8.0.3
// (earlier versions ignore the header); off by default.

import (
	"compress/gzip"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

var answered = struct {
	sync.Mutex
	bytes map[string]int64
}{bytes: map[string]int64{}}

var gzipAnswers int32

// countingWriter counts what reaches the connection.
type countingWriter struct {
	http.ResponseWriter
	method string
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	answered.Lock()
	answered.bytes[w.method] += int64(n)
	answered.Unlock()
	return n, err
}

// gzipWriter compresses the answer into the counting writer below it.
type gzipWriter struct {
	http.ResponseWriter
	gz *gzip.Writer
}

func (w gzipWriter) Write(p []byte) (int, error) { return w.gz.Write(p) }

func (w gzipWriter) WriteHeader(code int) {
	w.Header().Del("Content-Length")
	w.ResponseWriter.WriteHeader(code)
}

// answerWriter wraps a SOAP answer: counted, and gzipped when switched on and accepted.
// finish flushes the compressed stream.
func answerWriter(w http.ResponseWriter, r *http.Request, method string) (http.ResponseWriter, func()) {
	counted := countingWriter{ResponseWriter: w, method: method}
	if atomic.LoadInt32(&gzipAnswers) == 0 || !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		return counted, func() {}
	}
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Add("Vary", "Accept-Encoding")
	gz := gzip.NewWriter(counted)
	return gzipWriter{ResponseWriter: counted, gz: gz}, func() { _ = gz.Close() }
}

func sentBytes(w http.ResponseWriter, _ *http.Request) {
	answered.Lock()
	out := make(map[string]int64, len(answered.bytes))
	for k, v := range answered.bytes {
		out[k] = v
	}
	answered.Unlock()
	reply(w, http.StatusOK, out)
}

func setCompression(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Gzip bool `json:"gzip"`
	}
	if !decode(w, r, &req) {
		return
	}
	var v int32
	if req.Gzip {
		v = 1
	}
	atomic.StoreInt32(&gzipAnswers, v)
	reply(w, http.StatusOK, req)
}
