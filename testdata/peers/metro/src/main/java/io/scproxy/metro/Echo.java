package io.scproxy.metro;

import javax.xml.transform.Source;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMResult;
import javax.xml.transform.dom.DOMSource;

import jakarta.xml.ws.BindingType;
import jakarta.xml.ws.Provider;
import jakarta.xml.ws.Service;
import jakarta.xml.ws.ServiceMode;
import jakarta.xml.ws.WebServiceProvider;
import jakarta.xml.ws.soap.SOAPBinding;

/** Echo answers every request with its Body content unchanged. */
@WebServiceProvider(serviceName = "EchoService", portName = "EchoPort", targetNamespace = "urn:scproxy:metro", wsdlLocation = "echo.wsdl")
@ServiceMode(Service.Mode.PAYLOAD)
@BindingType(SOAPBinding.SOAP12HTTP_BINDING)
public class Echo implements Provider<Source> {
    private static final TransformerFactory TF = TransformerFactory.newInstance();

    @Override
    public Source invoke(Source request) {
        try {
            DOMResult r = new DOMResult();
            TF.newTransformer().transform(request, r);
            return new DOMSource(r.getNode());
        } catch (Exception e) {
            throw new IllegalStateException("echo: " + e.getMessage(), e);
        }
    }
}
