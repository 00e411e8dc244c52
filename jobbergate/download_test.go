package jobbergate_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnivector-solutions/jobbergate-agent-go/internal/testenv"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate"
	"github.com/omnivector-solutions/jobbergate-agent-go/jobbergate/jobbergatetest"
)

// countingServer serves size bytes of 'x' for every download, in 64 KiB writes, and counts the
// bytes its writes got into the connection, the requests and the handlers that returned. With contentLength it announces
// the size; otherwise the body is chunked (flushed after each write).
func countingServer(t *testing.T, size int64, contentLength bool) (*jobbergate.Client, *atomic.Int64, *atomic.Int64, *atomic.Int64) {
	t.Helper()
	var written, requests, finished atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer finished.Add(1)
		requests.Add(1)
		if contentLength {
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		}
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for left := size; left > 0; {
			n := min(left, int64(len(chunk)))
			m, err := w.Write(chunk[:n])
			written.Add(int64(m))
			if err != nil {
				return
			}
			if !contentLength {
				w.(http.Flusher).Flush()
			}
			left -= n
		}
	}))
	t.Cleanup(srv.Close)
	c, err := jobbergate.New(jobbergate.Options{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c, &written, &requests, &finished
}

// TestDownloadFileSizeLimit: a body over maxBytes fails with ErrFileTooLarge, once (no retry);
// without Content-Length the client stops reading at the limit, so a 100 MB file is not read
// whole (the server manages to write only the limit plus socket buffers); with Content-Length
// the answer is refused before its body is read. A body of exactly maxBytes passes.
func TestDownloadFileSizeLimit(t *testing.T) {
	const limit = 1 << 20
	const huge = 100 << 20
	tests := []struct {
		name          string
		size          int64
		contentLength bool
		wantErr       bool
	}{
		{"chunked 100 MB", huge, false, true},
		{"announced 100 MB", huge, true, true},
		{"chunked limit+1", limit + 1, false, true},
		{"announced limit+1", limit + 1, true, true},
		{"exactly the limit", limit, false, false},
		{"small", 10, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, written, requests, finished := countingServer(t, tt.size, tt.contentLength)
			got, err := c.DownloadFile(context.Background(), 1, "big.bin", limit)
			if !tt.wantErr {
				if err != nil || int64(len(got)) != tt.size {
					t.Fatalf("got %d bytes, %v; want %d bytes", len(got), err, tt.size)
				}
				return
			}
			if !errors.Is(err, jobbergate.ErrFileTooLarge) || jobbergate.IsTransient(err) {
				t.Fatalf("err = %v (transient %v), want a permanent ErrFileTooLarge", err, jobbergate.IsTransient(err))
			}
			if n := requests.Load(); n != 1 {
				t.Errorf("%d requests, want 1 (a too large file is not retried)", n)
			}
			if tt.size == huge {
				// Wait until the handler gave up (the client closed the connection), then
				// compare what reached the socket with the 100 MB offered.
				testenv.Eventually(t, 5*time.Second, func() bool { return finished.Load() == requests.Load() }, "every download request finished")
				if w := written.Load(); w > huge/4 {
					t.Errorf("server wrote %d bytes before the client gave up, want far less than %d", w, huge)
				}
				t.Logf("server got %d of %d bytes into the connection", written.Load(), int64(huge))
			}
		})
	}
}

// TestDownloadFileLimitDevAPI: the development API's file over the limit is refused with a
// message naming the file and the limit; maxBytes 0 keeps the general bound.
func TestDownloadFileLimitDevAPI(t *testing.T) {
	api := newAPI(t, jobbergatetest.Options{})
	js := api.AddJobScript(jobbergatetest.JobScript{Name: "js", Files: []jobbergatetest.File{
		{Filename: "big.bin", FileType: "SUPPORT", Content: bytes.Repeat([]byte("y"), 4096)},
	}})
	c := newClient(t, api, nil)
	_, err := c.DownloadFile(context.Background(), js, "big.bin", 4095)
	if !errors.Is(err, jobbergate.ErrFileTooLarge) || !bytes.Contains([]byte(err.Error()), []byte(`"big.bin"`)) ||
		!bytes.Contains([]byte(err.Error()), []byte("4095")) {
		t.Fatalf("err = %v", err)
	}
	for _, max := range []int64{4096, 0} {
		if b, err := c.DownloadFile(context.Background(), js, "big.bin", max); err != nil || len(b) != 4096 {
			t.Fatalf("maxBytes %d: %d bytes, %v", max, len(b), err)
		}
	}
}
