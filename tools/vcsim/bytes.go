package main

// Bytes of SOAP answers by method (GET /bytes), so a benchmark can tell what an exporter's
// property retrieval, update calls and perf queries cost vCenter to send.

import (
	"net/http"
	"sync"
)

var answered = struct {
	sync.Mutex
	bytes map[string]int64
}{bytes: map[string]int64{}}

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

// Flush keeps streaming answers streaming.
func (w countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func countBytes(w http.ResponseWriter, method string) http.ResponseWriter {
	return countingWriter{ResponseWriter: w, method: method}
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
