package cxfpeer

import "testing"

func TestParseMsgPath(t *testing.T) {
	s, ok := ParseMsgPath("http://127.0.0.1:4000/msg/mutual10/2005/encrypt-sign/dk/nocancel/Basic128/soap11")
	want := MsgScenario{Path: "/msg/mutual10/2005/encrypt-sign/dk/nocancel/Basic128/soap11", Bootstrap: "mutual10",
		Version: "2005", Order: "encrypt-sign", Derived: true, Cancel: false, Suite: "Basic128", SOAP12: false}
	if !ok || s != want {
		t.Fatalf("ParseMsgPath = %+v, %v; want %+v", s, ok, want)
	}
	if s.SCVersion() != "2005-02" {
		t.Errorf("SCVersion = %q, want 2005-02", s.SCVersion())
	}
	s, ok = ParseMsgPath("/msg/anonymous/13/sign-encrypt/nodk/cancel/Basic256/soap12")
	if !ok || s.Derived || !s.Cancel || !s.SOAP12 || s.SCVersion() != "1.3" {
		t.Errorf("ParseMsgPath = %+v, %v", s, ok)
	}
	for _, p := range []string{"https://127.0.0.1:4000/ut/13/soap12", "/msg/anonymous/13/soap12", "/msg/a/b/c/d/e/f/g/h"} {
		if _, ok := ParseMsgPath(p); ok {
			t.Errorf("ParseMsgPath(%q) accepted", p)
		}
	}
}
