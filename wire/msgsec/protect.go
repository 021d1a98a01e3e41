package msgsec

import (
	"errors"

	"github.com/scproxy/scproxy/wire/soap"
)

func (p *Profile) protect(env *soap.Envelope, out Outgoing) (*Sent, error) {
	return nil, errors.New("msgsec: protect not implemented yet")
}
