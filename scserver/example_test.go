package scserver_test

import (
	"context"
	"fmt"
	"log"

	"github.com/scproxy/scproxy/scserver"
	"github.com/scproxy/scproxy/wire/wssc"
)

// A test service for WS-SecureConversation 1.3 that asks for a renewal
// every 100 messages; clients trust the CA in CAFile.
func Example() {
	srv, err := scserver.New(scserver.Config{
		Versions: []wssc.Version{wssc.V1_3},
		Users:    map[string]string{"demo": "demo-password"},
		Script:   scserver.Script{RenewAfterMessages: 100},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	if err := srv.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	client := srv.Client() // trusts the server's CA, for Go callers
	_ = client
	fmt.Println(srv.URL() != "", srv.CAFile() != "")
	// Output: true true
}
