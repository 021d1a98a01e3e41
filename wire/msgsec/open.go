package msgsec

import (
	"errors"

	"github.com/scproxy/scproxy/wire/soap"
)

func (p *Profile) open(env *soap.Envelope, exp Expect) (*Opened, error) {
	return nil, errors.New("msgsec: open not implemented yet")
}
