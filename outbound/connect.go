package outbound

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"strconv"
)

// connectReason is the reason phrase of the answer to CONNECT. An
// application told to use scproxy as its HTTP proxy while keeping its
// https:// address asks for a tunnel, and HTTP clients print only the
// status line of a refused tunnel ("Tunnel connection failed: 405 ..."):
// the line itself must say what to change.
const connectReason = "scproxy needs http:// (it adds the security itself)"

// refuseConnect answers CONNECT with 405, the fault saying why, and a
// status line whose reason phrase says it too; and logs the refusal with
// the tunnel's target, so the operator sees what the application asked.
func (p *Proxy) refuseConnect(w http.ResponseWriter, r *http.Request) {
	pe := appError(http.StatusMethodNotAllowed, CodeMethodNotAllow,
		"CONNECT %s refused: scproxy must see the SOAP message to secure it; give the application the service's address with http:// instead of https:// (scproxy calls the service over https)", r.Host)
	p.cfg.Logger.Warn("CONNECT refused: the application keeps an https:// address; it must use http:// through scproxy", "target", r.Host)
	rec := &recorder{header: http.Header{}}
	rec.header.Set("Allow", http.MethodPost)
	pe.write(rec, versionHint(r))
	hj, ok := w.(http.Hijacker)
	if !ok {
		copyAnswer(w, rec)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		copyAnswer(w, rec)
		return
	}
	defer conn.Close()
	writeRaw(buf.Writer, rec)
}

// writeRaw writes a recorded answer with connectReason as its reason
// phrase, and closes the connection after it.
func writeRaw(w *bufio.Writer, rec *recorder) {
	fmt.Fprintf(w, "HTTP/1.1 %d %s\r\n", rec.status, connectReason)
	rec.header.Set("Content-Length", strconv.Itoa(rec.body.Len()))
	rec.header.Set("Connection", "close")
	_ = rec.header.Write(w)
	_, _ = w.WriteString("\r\n")
	_, _ = w.Write(rec.body.Bytes())
	_ = w.Flush()
}

func copyAnswer(w http.ResponseWriter, rec *recorder) {
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

// recorder keeps an answer to write it by hand.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
