package interop

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// Namespaces the wire log is read with, matched by URI.
const (
	nsWSU       = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	nsSOAP11    = "http://schemas.xmlsoap.org/soap/envelope/"
	nsSOAP12    = "http://www.w3.org/2003/05/soap-envelope"
	nsWSA10     = "http://www.w3.org/2005/08/addressing"
	nsTrust2005 = "http://schemas.xmlsoap.org/ws/2005/02/trust"
	nsTrust13   = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
	nsSC2005    = "http://schemas.xmlsoap.org/ws/2005/02/sc"
	nsSC13      = "http://docs.oasis-open.org/ws-sx/ws-secureconversation/200512"
	nsWSSE      = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	nsXENC      = "http://www.w3.org/2001/04/xmlenc#"
)

// wireEvent is one line of the peer's wire log.
type wireEvent struct {
	Dir         string `json:"dir"`
	Path        string `json:"path"`
	ContentType string `json:"contentType"`
	SOAPAction  string `json:"soapAction"`
	Status      int    `json:"status"`
	Message     string `json:"message"`
}

// exchange is a request the service received and its answer.
type exchange struct {
	Path string
	// Op is Issue, Renew or Cancel for WS-Trust requests, App otherwise.
	Op string
	// Target is the context a Renew or Cancel names; Used the context an
	// application message carries; Issued the context an Issue or Renew
	// answer returns.
	Target, Used, Issued string
	// Expires is the end of an issued context's Lifetime.
	Expires           time.Time
	Status            int
	Fault             string // the fault's code and reason, if the answer is one
	Request, Response string
}

func (x exchange) String() string {
	return fmt.Sprintf("%s %s status=%d target=%q used=%q issued=%q fault=%q", x.Op, x.Path, x.Status, x.Target, x.Used, x.Issued, x.Fault)
}

// parsed is what the tests read from one message.
type parsed struct {
	messageID, relatesTo string
	action               string // the WS-Addressing 1.0 Action header
	bodyChild            xml.Name
	requestType          string
	targetRef            string
	identifier           string // the first wsc:Identifier (either version)
	expires              time.Time
	fault                string
}

func parseMessage(s string) parsed {
	var p parsed
	d := xml.NewDecoder(strings.NewReader(s))
	var stack []xml.Name
	var text strings.Builder
	inFault := false
	for {
		tok, err := d.Token()
		if err != nil {
			return p
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 2 && isBody(stack[1]) && p.bodyChild.Local == "" {
				p.bodyChild = t.Name
				inFault = t.Name.Local == "Fault" && isSOAP(t.Name.Space)
			}
			if t.Name.Local == "Reference" && t.Name.Space == nsWSSE && len(stack) >= 2 &&
				(stack[len(stack)-2].Local == "CancelTarget" || stack[len(stack)-2].Local == "RenewTarget") {
				for _, a := range t.Attr {
					if a.Name.Local == "URI" && a.Name.Space == "" {
						p.targetRef = a.Value
					}
				}
			}
			stack = append(stack, t.Name)
			text.Reset()
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			v := strings.TrimSpace(text.String())
			switch {
			case t.Name.Space == nsWSA10 && t.Name.Local == "MessageID" && len(stack) == 3:
				p.messageID = v
			case t.Name.Space == nsWSA10 && t.Name.Local == "RelatesTo" && len(stack) == 3:
				p.relatesTo = v
			case t.Name.Space == nsWSA10 && t.Name.Local == "Action" && len(stack) == 3:
				p.action = v
			case (t.Name.Space == nsTrust2005 || t.Name.Space == nsTrust13) && t.Name.Local == "RequestType":
				p.requestType = v
			case t.Name.Space == nsWSU && t.Name.Local == "Expires" && len(stack) >= 2 && stack[len(stack)-2].Local == "Lifetime":
				p.expires, _ = time.Parse(time.RFC3339Nano, v)
			case (t.Name.Space == nsSC2005 || t.Name.Space == nsSC13) && t.Name.Local == "Identifier" && p.identifier == "":
				p.identifier = v
			case inFault && v != "":
				p.fault += v + " "
			}
			stack = stack[:len(stack)-1]
			text.Reset()
		}
	}
}

// trustAction is Issue, Renew or Cancel for a WS-Trust request action of
// either version (the SecureConversation ones among them), "" otherwise.
func trustAction(a string) string {
	for _, ns := range []string{nsTrust2005, nsTrust13} {
		rest, ok := strings.CutPrefix(a, ns+"/RST/")
		if !ok {
			continue
		}
		switch rest {
		case "Issue", "SCT":
			return "Issue"
		case "Renew", "SCT/Renew":
			return "Renew"
		case "Cancel", "SCT/Cancel":
			return "Cancel"
		}
	}
	return ""
}

func isSOAP(ns string) bool { return ns == nsSOAP11 || ns == nsSOAP12 }

func isBody(n xml.Name) bool { return n.Local == "Body" && isSOAP(n.Space) }

// readWire reads the wire log from byte offset from and pairs each
// request with its answer (by WS-Addressing RelatesTo).
func readWire(t *testing.T, file string, from int64) []exchange {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(from, 0); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var out []exchange
	byID := map[string]int{}
	open := map[string][]int{} // unanswered requests by path, oldest first
	for sc.Scan() {
		var e wireEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			continue // a line being written
		}
		m := parseMessage(e.Message)
		switch e.Dir {
		case "in":
			x := exchange{Path: e.Path, Op: "App", Request: e.Message}
			if m.bodyChild.Local == "RequestSecurityToken" && (m.bodyChild.Space == nsTrust2005 || m.bodyChild.Space == nsTrust13) {
				x.Op = m.requestType[strings.LastIndex(m.requestType, "/")+1:]
				x.Target = m.targetRef
			} else if op := trustAction(m.action); op != "" && m.bodyChild.Space == nsXENC {
				// An encrypted request of the message-security profile:
				// its Action alone tells the operation.
				x.Op = op
			} else {
				x.Used = m.identifier
			}
			out = append(out, x)
			if m.messageID != "" {
				byID[m.messageID] = len(out) - 1
			}
			open[e.Path] = append(open[e.Path], len(out)-1)
		case "out":
			// By RelatesTo; an answer without one (a fault sent before
			// WS-Addressing was processed) goes with the path's oldest
			// unanswered request.
			i, ok := byID[m.relatesTo]
			if !ok {
				if len(open[e.Path]) == 0 {
					continue
				}
				i = open[e.Path][0]
			}
			open[e.Path] = slices.DeleteFunc(open[e.Path], func(j int) bool { return j == i })
			x := &out[i]
			x.Status, x.Response = e.Status, e.Message
			if m.fault != "" {
				x.Fault = strings.TrimSpace(m.fault)
			} else if x.Op == "Issue" || x.Op == "Renew" {
				x.Issued, x.Expires = m.identifier, m.expires
			}
		}
	}
	return out
}

// wireSize is the wire log's current size: the offset a later readWire
// starts from to see only what follows.
func wireSize(t *testing.T, file string) int64 {
	t.Helper()
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// only keeps the exchanges of one endpoint path.
func only(xs []exchange, path string) []exchange {
	var out []exchange
	for _, x := range xs {
		if x.Path == path {
			out = append(out, x)
		}
	}
	return out
}

// ops counts exchanges by operation.
func ops(xs []exchange) map[string]int {
	m := map[string]int{}
	for _, x := range xs {
		m[x.Op]++
	}
	return m
}

// dump is the exchanges, for failure messages.
func dump(xs []exchange) string {
	var b bytes.Buffer
	for _, x := range xs {
		fmt.Fprintf(&b, "  %s\n", x)
	}
	return b.String()
}
