// Package bridge translates an envelope between the SOAP and
// WS-Addressing versions an application speaks and those its service
// expects, in both directions of one request-reply exchange.
//
// On the way out the envelope changes SOAP version under a fresh prefix
// (splice.Message.Convert) and its addressing headers are kept with wsa:To
// pointed at the service, or, across WS-Addressing versions, replaced by
// the request-reply set WCF writes (WS-Addressing 1.0 SOAP Binding §2,
// the 2004/08 submission §3): Action, MessageID, an anonymous ReplyTo and
// To. An application's WS-Security header, of any version, is refused: the
// only one the service finds must be the one scproxy adds. On the way back
// the reply loses the service's Security header and has its addressing
// headers translated to the application's version, with RelatesTo naming
// the application's MessageID.
//
// Only the Header is touched; the Body travels as received (see splice).
// Header blocks are told apart by namespace URI, never by prefix.
package bridge
