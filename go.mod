module github.com/scproxy/scproxy

go 1.26.6

require (
	github.com/beevik/etree v1.8.1
	github.com/russellhaering/goxmldsig v1.6.1
)

require github.com/jonboulle/clockwork v0.5.0 // indirect
