package io.scproxy.peer;

import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import javax.net.ssl.TrustManagerFactory;
import javax.xml.namespace.QName;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.transform.Source;

import jakarta.xml.ws.BindingProvider;
import jakarta.xml.ws.Dispatch;
import jakarta.xml.ws.Service;
import jakarta.xml.ws.soap.SOAPBinding;

import org.apache.cxf.configuration.jsse.TLSClientParameters;
import org.apache.cxf.Bus;
import org.apache.cxf.BusFactory;
import org.apache.cxf.transport.http.HTTPConduitConfigurer;
import org.apache.cxf.ws.addressing.WSAddressingFeature;
import org.apache.cxf.ws.policy.WSPolicyFeature;
import org.apache.cxf.ws.security.SecurityConstants;
import org.apache.cxf.ws.security.tokenstore.MemoryTokenStore;
import org.w3c.dom.Element;

/**
 * A load client: CXF's own client side of SC over TLS (username bootstrap)
 * calling one endpoint of the peer, one Dispatch (and so one security
 * context) per thread. Commands on standard input, one a line:
 * "run SIZE THREADS MILLIS" runs a closed loop of THREADS callers for
 * MILLIS with SIZE-byte payloads and answers
 * "DONE messages errors nanoseconds [first error]". It prints READY when
 * it is ready; end of input stops it.
 *
 * Flags: --url URL --ca PEM --version 2005|13 --user NAME; the password
 * comes from PEER_PASSWORD.
 */
public final class Client {
    private final Map<String, String> opts;
    private final List<Dispatch<Source>> dispatches = new ArrayList<>();

    private Client(Map<String, String> opts) {
        this.opts = opts;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            opts.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        Client c = new Client(opts);
        // Every conduit of the bus trusts the CA: the application's and the
        // one CXF opens for the context's Issue.
        TLSClientParameters tls = new TLSClientParameters();
        tls.setTrustManagers(c.trust());
        Bus bus = BusFactory.getDefaultBus();
        bus.setExtension((HTTPConduitConfigurer) (name, address, conduit) -> conduit.setTlsClientParameters(tls),
            HTTPConduitConfigurer.class);
        System.out.println("READY");
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null;) {
            String[] f = line.trim().split("\\s+");
            if (f.length == 4 && "run".equals(f[0])) {
                System.out.println(c.run(Integer.parseInt(f[1]), Integer.parseInt(f[2]), Long.parseLong(f[3])));
                System.out.flush();
            }
        }
        System.exit(0);
    }

    private synchronized Dispatch<Source> dispatch(int i) throws Exception {
        while (dispatches.size() <= i) {
            dispatches.add(newDispatch());
        }
        return dispatches.get(i);
    }

    private Dispatch<Source> newDispatch() throws Exception {
        QName svc = new QName("urn:scproxy:peer", "Bench");
        QName port = new QName("urn:scproxy:peer", "BenchPort");
        Service s = Service.create(svc);
        s.addPort(port, SOAPBinding.SOAP12HTTP_BINDING, opts.get("url"));
        WSPolicyFeature pf = new WSPolicyFeature();
        pf.setPolicyElements(List.of(parse(Policies.scOverTls(opts.getOrDefault("version", "13"), Policies.Bootstrap.USERNAME, false))));
        Dispatch<Source> d = s.createDispatch(port, Source.class, Service.Mode.PAYLOAD, pf, new WSAddressingFeature());
        Map<String, Object> rc = d.getRequestContext();
        rc.put(SecurityConstants.USERNAME, opts.getOrDefault("user", "alice"));
        rc.put(SecurityConstants.PASSWORD, System.getenv().getOrDefault("PEER_PASSWORD", ""));
        rc.put(SecurityConstants.TOKEN_STORE_CACHE_INSTANCE, Main.remembering(new MemoryTokenStore(), MsgClient.LOAD_TTL_MS));
        rc.put(BindingProvider.SOAPACTION_USE_PROPERTY, Boolean.TRUE);
        rc.put(BindingProvider.SOAPACTION_URI_PROPERTY, "urn:scproxy:bench/process");
        return d;
    }

    private String run(int size, int threads, long millis) throws Exception {
        List<Dispatch<Source>> ds = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            ds.add(dispatch(i));
        }
        return Load.run(ds, size, millis);
    }

    private javax.net.ssl.TrustManager[] trust() throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        int i = 0;
        for (Certificate c : cf.generateCertificates(new ByteArrayInputStream(Files.readAllBytes(Path.of(opts.get("ca")))))) {
            ks.setCertificateEntry("ca" + i++, c);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        return tmf.getTrustManagers();
    }

    private static Element parse(String xml) throws Exception {
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setNamespaceAware(true);
        return f.newDocumentBuilder().parse(new ByteArrayInputStream(xml.getBytes(StandardCharsets.UTF_8))).getDocumentElement();
    }
}
