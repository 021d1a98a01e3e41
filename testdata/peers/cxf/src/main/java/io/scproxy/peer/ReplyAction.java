package io.scproxy.peer;

import org.apache.cxf.message.Message;
import org.apache.cxf.phase.AbstractPhaseInterceptor;
import org.apache.cxf.phase.Phase;
import org.apache.cxf.ws.addressing.AddressingProperties;
import org.apache.cxf.ws.addressing.AttributedURIType;
import org.apache.cxf.ws.addressing.JAXWSAConstants;

/**
 * ReplyAction gives the echo's answers a WS-Addressing Action: an endpoint
 * without a WSDL has no output action, and an empty Action is not a valid
 * IRI. The answer's action is the request's with "Response" appended.
 */
final class ReplyAction extends AbstractPhaseInterceptor<Message> {
    ReplyAction() {
        super(Phase.POST_LOGICAL);
    }

    @Override
    public void handleMessage(Message m) {
        AddressingProperties out = (AddressingProperties) m.get(JAXWSAConstants.ADDRESSING_PROPERTIES_OUTBOUND);
        if (out == null || m.getExchange() == null || m.getExchange().getInMessage() == null) {
            return;
        }
        AddressingProperties in = (AddressingProperties) m.getExchange().getInMessage()
            .get(JAXWSAConstants.ADDRESSING_PROPERTIES_INBOUND);
        if (in == null || in.getAction() == null) {
            return;
        }
        AttributedURIType a = out.getAction();
        if (a == null || a.getValue() == null || a.getValue().isEmpty()) {
            AttributedURIType na = new AttributedURIType();
            na.setValue(in.getAction().getValue() + "Response");
            out.setAction(na);
        }
    }
}
