package io.scproxy.metro;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.StringReader;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

import javax.xml.namespace.QName;
import javax.xml.transform.Source;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.stream.StreamResult;
import javax.xml.transform.stream.StreamSource;

import jakarta.xml.ws.BindingProvider;
import jakarta.xml.ws.Dispatch;
import jakarta.xml.ws.Endpoint;
import jakarta.xml.ws.Service;

/**
 * The Metro peer: one message-security endpoint (echo.wsdl:
 * AnonymousForCertificate, derived keys, EncryptSignature, Basic256, WS-SC
 * February 2005 with WS-SP 2005/07, SOAP 1.2, WS-Addressing 1.0) on
 * loopback HTTP. Before it announces itself, Metro's own client proves the
 * endpoint: it establishes a context and echoes two messages through it.
 * It then prints READY {"url":…} and serves until its standard input ends.
 *
 * Flags: --cert PEM --key PKCS#8-PEM (the service) --ca PEM (trusted)
 * --client-cert PEM --client-key PKCS#8-PEM (Metro's client).
 */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            opts.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        // Metro prints to standard output as it works: that goes to
        // standard error, standard output carries the READY line alone.
        PrintStream out = System.out;
        System.setOut(System.err);
        System.setProperty("peer.cert", opts.get("cert"));
        System.setProperty("peer.key", opts.get("key"));
        System.setProperty("peer.ca", opts.get("ca"));
        System.setProperty("peer.client.cert", opts.get("client-cert"));
        System.setProperty("peer.client.key", opts.get("client-key"));
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        String url = "http://127.0.0.1:" + port + "/echo";
        Endpoint ep = Endpoint.publish(url, new Echo());
        prove(url);
        out.println("READY {\"url\":\"" + url + "\"}");
        out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        while (in.readLine() != null) {
            // serve until the end of input
        }
        ep.stop();
        System.exit(0);
    }

    /** prove runs Metro's own client against the endpoint: a context, two echoes. */
    private static void prove(String url) throws Exception {
        QName svc = new QName("urn:scproxy:metro", "EchoService");
        QName portName = new QName("urn:scproxy:metro", "EchoPort");
        Service service = Service.create(new URL(url + "?wsdl"), svc);
        Dispatch<Source> d = service.createDispatch(portName, Source.class, Service.Mode.PAYLOAD);
        d.getRequestContext().put(BindingProvider.ENDPOINT_ADDRESS_PROPERTY, url);
        for (int i = 1; i <= 2; i++) {
            String want = "message " + i + " of Metro's client";
            Source r = d.invoke(new StreamSource(new StringReader("<e:Echo xmlns:e=\"urn:scproxy:metro\">" + want + "</e:Echo>")));
            StringWriter w = new StringWriter();
            TransformerFactory.newInstance().newTransformer().transform(r, new StreamResult(w));
            if (w.toString().indexOf(want) < 0) {
                throw new IllegalStateException("Metro's client: echo " + i + " came back as " + w);
            }
        }
    }
}
