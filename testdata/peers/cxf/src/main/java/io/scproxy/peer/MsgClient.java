package io.scproxy.peer;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import javax.security.auth.callback.Callback;
import javax.security.auth.callback.CallbackHandler;
import javax.xml.namespace.QName;
import javax.xml.transform.Source;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.stream.StreamResult;
import javax.xml.transform.stream.StreamSource;

import jakarta.xml.ws.BindingProvider;
import jakarta.xml.ws.Dispatch;
import jakarta.xml.ws.Service;
import jakarta.xml.ws.soap.SOAPBinding;

import org.apache.cxf.jaxws.DispatchImpl;
import org.apache.cxf.ws.addressing.WSAddressingFeature;
import org.apache.cxf.ws.policy.WSPolicyFeature;
import org.apache.cxf.ws.security.SecurityConstants;
import org.apache.cxf.ws.security.tokenstore.MemoryTokenStore;
import org.apache.cxf.ws.security.tokenstore.SecurityToken;
import org.apache.wss4j.common.crypto.Merlin;
import org.apache.wss4j.common.ext.WSPasswordCallback;

/**
 * MsgClient is CXF's own client of the message-security scenarios: the
 * proof that each scenario of the peer works before scproxy is run against
 * it. Commands on standard input, one a line: "run PATH" runs one scenario
 * (PATH as MsgScenario.path()) with a context of its own: the bootstrap
 * and a first echo, a second echo on the same context, a renewal (the
 * context's expiry moved to the past, so the next echo renews it first;
 * issuing a new context instead is refused) with an echo on the renewed
 * key, and, unless the scenario has MustNotSendCancel, an echo after which
 * the context is cancelled. It answers "OK PATH renewed cancel-sent" (or
 * "renewed no-cancel") or "FAIL PATH reason". "load PATH SIZE THREADS
 * MILLIS" runs a closed loop of THREADS callers of the scenario for MILLIS
 * with SIZE-byte Process payloads, each caller keeping its context from
 * load to load (as the load client of SC over TLS does), and answers
 * "DONE messages errors nanoseconds [first error]". It prints READY when
 * it is ready; end of input stops it.
 *
 * Flags: --base URL (the peer's plain listener) --ca PEM --cert PEM
 * --key PKCS#8-PEM (the client's certificate) --server-cert PEM --user
 * NAME; the user's password comes from PEER_PASSWORD.
 */
public final class MsgClient {
    private static final TransformerFactory TF = TransformerFactory.newInstance();
    private static final String CLIENT_ALIAS = "client";
    private static final String SERVICE_ALIAS = "service";
    private static final char[] KEY_PASSWORD = "client".toCharArray();
    /** LOAD_TTL_MS is how long a load caller's context stays in its token store. */
    static final long LOAD_TTL_MS = 3_600_000L;
    private final Map<String, String> opts;
    private final Merlin crypto;
    /** The load callers' dispatches, per scenario path. */
    private final Map<String, List<Dispatch<Source>>> loads = new HashMap<>();

    private MsgClient(Map<String, String> opts) throws Exception {
        this.opts = opts;
        KeyStore ks = Main.keyStore(CLIENT_ALIAS, opts.get("key"), opts.get("cert"), KEY_PASSWORD);
        ks.setCertificateEntry(SERVICE_ALIAS, Main.certs(opts.get("server-cert")).iterator().next());
        KeyStore ts = KeyStore.getInstance("PKCS12");
        ts.load(null, null);
        int i = 0;
        for (Certificate c : Main.certs(opts.get("ca"))) {
            ts.setCertificateEntry("ca" + i++, c);
        }
        crypto = new Merlin();
        crypto.setKeyStore(ks);
        crypto.setTrustStore(ts);
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            opts.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        MsgClient c = new MsgClient(opts);
        System.out.println("READY");
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null;) {
            String[] f = line.trim().split("\\s+");
            if (f.length == 5 && "load".equals(f[0])) {
                String answer;
                try {
                    answer = c.load(MsgScenario.parse(f[1]), Integer.parseInt(f[2]), Integer.parseInt(f[3]), Long.parseLong(f[4]));
                } catch (Exception e) {
                    answer = "DONE 0 1 0 " + describe(e);
                }
                System.out.println(answer);
                System.out.flush();
            }
            if (f.length == 2 && "run".equals(f[0])) {
                String answer;
                try {
                    answer = "OK " + f[1] + " " + c.run(MsgScenario.parse(f[1]));
                } catch (Exception e) {
                    answer = "FAIL " + f[1] + " " + describe(e);
                }
                System.out.println(answer);
                System.out.flush();
            }
        }
        System.exit(0);
    }

    /** describe is an exception and its causes, on one line. */
    private static String describe(Throwable e) {
        StringBuilder b = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            b.append(t.getClass().getSimpleName()).append(": ").append(t.getMessage()).append(" / ");
        }
        return b.toString().replace('\n', ' ');
    }

    /** load runs the closed loop of threads callers of s (see the class comment). */
    private String load(MsgScenario s, int size, int threads, long millis) throws Exception {
        List<Dispatch<Source>> ds = loads.computeIfAbsent(s.path(), k -> new ArrayList<>());
        while (ds.size() < threads) {
            Dispatch<Source> d = dispatch(s, "urn:scproxy:bench/process");
            d.getRequestContext().put(SecurityConstants.TOKEN_STORE_CACHE_INSTANCE, Main.remembering(new MemoryTokenStore(), LOAD_TTL_MS));
            ds.add(d);
        }
        return Load.run(ds.subList(0, threads), size, millis);
    }

    private String run(MsgScenario s) throws Exception {
        Dispatch<Source> d = dispatch(s, "urn:scproxy:peer/echo");
        Map<String, Object> rc = d.getRequestContext();
        try {
            echo(d, 1);
            echo(d, 2);
            SecurityToken first = token(d);
            byte[] firstKey = first.getSecret().clone();
            first.setExpires(Instant.now().minusSeconds(1));
            echo(d, 3);
            SecurityToken renewed = token(d);
            if (!first.getId().equals(renewed.getId()) || Arrays.equals(firstKey, renewed.getSecret())) {
                throw new IllegalStateException("the context was not renewed: " + first.getId() + " then " + renewed.getId());
            }
            if (!s.cancel()) {
                return "renewed no-cancel";
            }
            // The client logs, and does not throw, what fails in a Cancel:
            // the service's wire log tells whether it took it.
            rc.put(SecurityConstants.STS_TOKEN_DO_CANCEL, Boolean.TRUE);
            echo(d, 4);
            return "renewed cancel-sent";
        } finally {
            ((java.io.Closeable) d).close();
        }
    }

    /** dispatch is a client of s of its own (a context of its own), sending SOAP action action. */
    private Dispatch<Source> dispatch(MsgScenario s, String action) throws Exception {
        QName svc = new QName("urn:scproxy:peer", "MsgClient");
        QName port = new QName("urn:scproxy:peer", "MsgClientPort");
        Service service = Service.create(svc);
        service.addPort(port, s.soap12() ? SOAPBinding.SOAP12HTTP_BINDING : SOAPBinding.SOAP11HTTP_BINDING,
            opts.get("base") + "/" + s.path());
        WSPolicyFeature pf = new WSPolicyFeature();
        pf.setPolicyElements(List.of(Main.parse(Policies.message(s))));
        Dispatch<Source> d = service.createDispatch(port, Source.class, Service.Mode.PAYLOAD, pf, new WSAddressingFeature());
        Map<String, Object> rc = d.getRequestContext();
        rc.put(SecurityConstants.USERNAME, opts.getOrDefault("user", "alice"));
        rc.put(SecurityConstants.CALLBACK_HANDLER, (CallbackHandler) this::passwords);
        rc.put(SecurityConstants.SIGNATURE_CRYPTO, crypto);
        rc.put(SecurityConstants.ENCRYPT_CRYPTO, crypto);
        rc.put(SecurityConstants.SIGNATURE_USERNAME, CLIENT_ALIAS);
        rc.put(SecurityConstants.ENCRYPT_USERNAME, SERVICE_ALIAS);
        rc.put(SecurityConstants.STS_ISSUE_AFTER_FAILED_RENEW, Boolean.FALSE);
        rc.put(BindingProvider.SOAPACTION_USE_PROPERTY, Boolean.TRUE);
        rc.put(BindingProvider.SOAPACTION_URI_PROPERTY, action);
        return d;
    }

    private static SecurityToken token(Dispatch<Source> d) {
        Object t = ((DispatchImpl<?>) d).getClient().getEndpoint().get(SecurityConstants.TOKEN);
        if (!(t instanceof SecurityToken)) {
            throw new IllegalStateException("no security context after an echo");
        }
        return (SecurityToken) t;
    }

    /** echo sends a numbered element and checks that it comes back. */
    private static void echo(Dispatch<Source> d, int n) throws Exception {
        String want = "message " + n + " of CXF's client";
        String payload = "<e:Echo xmlns:e=\"urn:scproxy:echo\"><e:text>" + want + "</e:text></e:Echo>";
        Source r = d.invoke(new StreamSource(new StringReader(payload)));
        StringWriter w = new StringWriter();
        TF.newTransformer().transform(r, new StreamResult(w));
        if (w.getBuffer().indexOf(want) < 0) {
            throw new IllegalStateException("echo " + n + " came back as " + w);
        }
    }

    private void passwords(Callback[] callbacks) {
        for (Callback c : callbacks) {
            if (c instanceof WSPasswordCallback) {
                WSPasswordCallback pc = (WSPasswordCallback) c;
                if (CLIENT_ALIAS.equals(pc.getIdentifier())) {
                    pc.setPassword(new String(KEY_PASSWORD));
                } else if (opts.getOrDefault("user", "alice").equals(pc.getIdentifier())) {
                    pc.setPassword(System.getenv().getOrDefault("PEER_PASSWORD", ""));
                }
            }
        }
    }
}
