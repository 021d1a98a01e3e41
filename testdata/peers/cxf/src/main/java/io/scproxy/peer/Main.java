package io.scproxy.peer;

import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import javax.net.ssl.KeyManagerFactory;
import javax.security.auth.callback.Callback;
import javax.security.auth.callback.CallbackHandler;
import javax.xml.namespace.QName;
import javax.xml.parsers.DocumentBuilderFactory;

import jakarta.xml.ws.soap.SOAPBinding;

import org.apache.cxf.Bus;
import org.apache.cxf.BusFactory;
import org.apache.cxf.configuration.jsse.TLSServerParameters;
import org.apache.cxf.jaxws.EndpointImpl;
import org.apache.cxf.transport.http_jetty.JettyHTTPServerEngineFactory;
import org.apache.cxf.ws.addressing.WSAddressingFeature;
import org.apache.cxf.ws.policy.WSPolicyFeature;
import org.apache.cxf.ws.security.SecurityConstants;
import org.apache.cxf.ws.security.tokenstore.MemoryTokenStore;
import org.apache.wss4j.common.crypto.Merlin;
import org.apache.wss4j.common.ext.WSPasswordCallback;
import org.w3c.dom.Element;

/**
 * The peer: one HTTPS listener on loopback serving an echo endpoint per
 * scenario, WS-SC version and SOAP version, each with its own policy. It
 * prints one READY line (JSON) when it serves, logs every message to the
 * wire log, and reads commands on standard input: "restart" drops every
 * endpoint and every security context and serves again on the same port
 * (a recycled service), answering RESTARTED; end of input or a signal stops it.
 *
 * A second listener, plain HTTP on loopback, serves the message-security
 * scenarios (MsgScenario), whose messages protect themselves.
 *
 * Flags: --cert PEM --key PKCS#8-PEM --ca PEM (trusted for the X.509
 * bootstrap) --log FILE (or "-" for none) --keys FILE (the message
 * endpoints' context keys, see KeyLog; "-" or absent for none)
 * --sct-lifetime-ms N --port N --plain-port N --user NAME; the user's
 * password comes from PEER_PASSWORD.
 */
public final class Main {
    private final Map<String, String> opts;
    private final String password;
    private final WireLog wire;
    private final PrintStream keys;
    private int port;
    private int plainPort;
    private Bus bus;
    private final List<EndpointImpl> endpoints = new ArrayList<>();

    private Main(Map<String, String> opts) throws IOException {
        this.opts = opts;
        this.password = System.getenv().getOrDefault("PEER_PASSWORD", "");
        String log = opts.getOrDefault("log", "-");
        this.wire = "-".equals(log) ? null : new WireLog(new PrintStream(new FileOutputStream(log, true), false, StandardCharsets.UTF_8));
        String keyLog = opts.getOrDefault("keys", "-");
        this.keys = "-".equals(keyLog) ? null : new PrintStream(new FileOutputStream(keyLog, true), false, StandardCharsets.UTF_8);
        this.port = freePort(Integer.parseInt(opts.getOrDefault("port", "0")));
        this.plainPort = freePort(Integer.parseInt(opts.getOrDefault("plain-port", "0")));
    }

    /** freePort is port, or a free loopback port when port is 0. */
    private static int freePort(int port) throws IOException {
        if (port != 0) {
            return port;
        }
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            opts.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        Main m = new Main(opts);
        m.start();
        StringBuilder ready = new StringBuilder("READY {\"base\":");
        WireLog.quote(ready, "https://127.0.0.1:" + m.port);
        ready.append(",\"plain\":");
        WireLog.quote(ready, "http://127.0.0.1:" + m.plainPort);
        ready.append(",\"ca\":");
        WireLog.quote(ready, opts.getOrDefault("ca", ""));
        ready.append(",\"endpoints\":[");
        String sep = "";
        for (EndpointImpl ep : m.endpoints) {
            ready.append(sep);
            WireLog.quote(ready, ep.getAddress());
            sep = ",";
        }
        ready.append("]}");
        System.out.println(ready);
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null;) {
            if ("restart".equals(line.trim())) {
                m.stop();
                m.start();
                System.out.println("RESTARTED");
                System.out.flush();
            }
        }
        m.stop();
        System.exit(0);
    }

    private void start() throws Exception {
        bus = BusFactory.newInstance().createBus();
        BusFactory.setDefaultBus(bus);
        if (wire != null) {
            bus.getInInterceptors().add(wire.in());
            bus.getOutInterceptors().add(wire.out());
            bus.getOutFaultInterceptors().add(wire.out());
        }
        JettyHTTPServerEngineFactory jf = bus.getExtension(JettyHTTPServerEngineFactory.class);
        jf.setTLSServerParametersForPort("127.0.0.1", port, tls());
        Merlin trust = new Merlin();
        trust.setTrustStore(caStore());
        long lifetime = Long.parseLong(opts.getOrDefault("sct-lifetime-ms", "300000"));
        Map<String, Policies.Bootstrap> scenarios = new LinkedHashMap<>();
        scenarios.put("ut", Policies.Bootstrap.USERNAME);
        scenarios.put("x509", Policies.Bootstrap.CERTIFICATE);
        scenarios.put("ut-dk", Policies.Bootstrap.USERNAME);
        // The same as ut, for clients whose messages are bridged from the
        // other SOAP version, kept apart in the log.
        scenarios.put("ut-bridged", Policies.Bootstrap.USERNAME);
        for (Map.Entry<String, Policies.Bootstrap> s : scenarios.entrySet()) {
            for (String version : new String[] {"2005", "13"}) {
                for (String soap : new String[] {"soap11", "soap12"}) {
                    String policy = Policies.scOverTls(version, s.getValue(), s.getKey().endsWith("-dk"));
                    publish(s.getKey() + "/" + version + "/" + soap, soap, policy, trust, lifetime);
                }
            }
        }
        Merlin own = new Merlin();
        own.setKeyStore(ownStore());
        own.setTrustStore(caStore());
        for (MsgScenario s : MsgScenario.ALL) {
            publishMessage(s, own, lifetime);
        }
    }

    /**
     * publishMessage serves a message-security scenario on the plain
     * listener: the service's own key decrypts the bootstrap and signs its
     * answers (its certificate encrypts them for MutualCertificate10's
     * client, "useReqSigCert"), the CA vouches for client certificates.
     */
    private void publishMessage(MsgScenario s, Merlin own, long lifetime) throws Exception {
        String binding = s.soap12() ? SOAPBinding.SOAP12HTTP_BINDING : SOAPBinding.SOAP11HTTP_BINDING;
        EndpointImpl ep = new EndpointImpl(bus, new Echo(), binding);
        String name = s.path().replace('/', '_');
        ep.setServiceName(new QName("urn:scproxy:peer", "Echo_" + name));
        ep.setEndpointName(new QName("urn:scproxy:peer", "EchoPort_" + name));
        WSPolicyFeature pf = new WSPolicyFeature();
        pf.setPolicyElements(List.of(parse(Policies.message(s))));
        ep.getFeatures().add(pf);
        ep.getFeatures().add(new WSAddressingFeature());
        ep.getOutInterceptors().add(new ReplyAction());
        ep.getOutFaultInterceptors().add(new ReplyAction());
        Map<String, Object> props = new HashMap<>();
        props.put(SecurityConstants.CALLBACK_HANDLER, (CallbackHandler) this::passwords);
        props.put(SecurityConstants.SIGNATURE_CRYPTO, own);
        props.put(SecurityConstants.ENCRYPT_CRYPTO, own);
        props.put(SecurityConstants.SIGNATURE_USERNAME, SERVICE_ALIAS);
        props.put(SecurityConstants.ENCRYPT_USERNAME, "useReqSigCert");
        props.put(SecurityConstants.TOKEN_STORE_CACHE_INSTANCE, remembering(new KeyLog(keys, s.path()), lifetime));
        props.put(SecurityConstants.SECURITY_TOKEN_LIFETIME, String.valueOf(lifetime));
        ep.setProperties(props);
        ep.publish("http://127.0.0.1:" + plainPort + "/" + s.path());
        endpoints.add(ep);
    }

    /**
     * remembering makes store keep each token for lifetimeMs, and at
     * least its default 300 s: a memory token store forgets every token
     * 300 s after storing it, whatever the token's expiry, so that a
     * context of a longer lifetime would be forgotten while in use.
     */
    static <T extends MemoryTokenStore> T remembering(T store, long lifetimeMs) {
        store.setTTL(Math.max(MemoryTokenStore.DEFAULT_TTL, lifetimeMs / 1000));
        return store;
    }

    private void publish(String path, String soap, String policy, Merlin trust, long lifetime) throws Exception {
        String binding = "soap12".equals(soap) ? SOAPBinding.SOAP12HTTP_BINDING : SOAPBinding.SOAP11HTTP_BINDING;
        EndpointImpl ep = new EndpointImpl(bus, new Echo(), binding);
        String name = path.replace('/', '_');
        ep.setServiceName(new QName("urn:scproxy:peer", "Echo_" + name));
        ep.setEndpointName(new QName("urn:scproxy:peer", "EchoPort_" + name));
        WSPolicyFeature pf = new WSPolicyFeature();
        pf.setPolicyElements(List.of(parse(policy)));
        ep.getFeatures().add(pf);
        ep.getFeatures().add(new WSAddressingFeature());
        ep.getOutInterceptors().add(new ReplyAction());
        ep.getOutFaultInterceptors().add(new ReplyAction());
        Map<String, Object> props = new HashMap<>();
        props.put(SecurityConstants.CALLBACK_HANDLER, (CallbackHandler) this::passwords);
        props.put(SecurityConstants.SIGNATURE_CRYPTO, trust);
        props.put(SecurityConstants.TOKEN_STORE_CACHE_INSTANCE, remembering(new MemoryTokenStore(), lifetime));
        props.put(SecurityConstants.SECURITY_TOKEN_LIFETIME, String.valueOf(lifetime));
        ep.setProperties(props);
        ep.publish("https://127.0.0.1:" + port + "/" + path);
        endpoints.add(ep);
    }

    private void passwords(Callback[] callbacks) {
        String user = opts.getOrDefault("user", "alice");
        for (Callback c : callbacks) {
            if (c instanceof WSPasswordCallback) {
                WSPasswordCallback pc = (WSPasswordCallback) c;
                if (user.equals(pc.getIdentifier())) {
                    pc.setPassword(password);
                } else if (SERVICE_ALIAS.equals(pc.getIdentifier())) {
                    pc.setPassword(new String(KEY_PASSWORD));
                }
            }
        }
    }

    private void stop() {
        for (EndpointImpl ep : endpoints) {
            ep.stop();
        }
        endpoints.clear();
        if (bus != null) {
            bus.shutdown(true);
            JettyHTTPServerEngineFactory.destroyForPort(port);
            JettyHTTPServerEngineFactory.destroyForPort(plainPort);
            bus = null;
        }
    }

    /** The alias of the service's key in its key store, and that key's password. */
    static final String SERVICE_ALIAS = "server";
    private static final char[] KEY_PASSWORD = "peer".toCharArray();

    /** ownStore holds the service's key and certificate chain. */
    private KeyStore ownStore() throws Exception {
        return keyStore(SERVICE_ALIAS, opts.get("key"), opts.get("cert"), KEY_PASSWORD);
    }

    /** keyStore is a PKCS#12 store holding one key (a PKCS#8 PEM file) and its chain (PEM). */
    static KeyStore keyStore(String alias, String keyFile, String certFile, char[] pw) throws Exception {
        Collection<? extends Certificate> chain = certs(certFile);
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        ks.setKeyEntry(alias, privateKey(keyFile), pw, chain.toArray(new Certificate[0]));
        return ks;
    }

    private TLSServerParameters tls() throws Exception {
        KeyStore ks = ownStore();
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, KEY_PASSWORD);
        TLSServerParameters p = new TLSServerParameters();
        p.setKeyManagers(kmf.getKeyManagers());
        return p;
    }

    private KeyStore caStore() throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        int i = 0;
        for (Certificate c : certs(opts.get("ca"))) {
            ks.setCertificateEntry("ca" + i++, c);
        }
        return ks;
    }

    static Collection<? extends Certificate> certs(String file) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        return cf.generateCertificates(new ByteArrayInputStream(Files.readAllBytes(Path.of(file))));
    }

    static PrivateKey privateKey(String file) throws Exception {
        String pem = Files.readString(Path.of(file));
        String b64 = pem.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        byte[] der = Base64.getDecoder().decode(b64);
        return KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(der));
    }

    static Element parse(String xml) throws Exception {
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setNamespaceAware(true);
        return f.newDocumentBuilder().parse(new ByteArrayInputStream(xml.getBytes(StandardCharsets.UTF_8))).getDocumentElement();
    }

}
