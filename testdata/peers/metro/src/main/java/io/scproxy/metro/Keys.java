package io.scproxy.metro;

import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.Collection;

import javax.security.auth.callback.Callback;
import javax.security.auth.callback.CallbackHandler;

import com.sun.xml.wss.impl.callback.KeyStoreCallback;
import com.sun.xml.wss.impl.callback.PrivateKeyCallback;

/**
 * Keys hands Metro its key stores, made from the PEM files named by the
 * system properties peer.cert, peer.key (the service), peer.client.cert,
 * peer.client.key (its client) and peer.ca (trusted).
 */
final class Keys {
    static final char[] PW = "peer".toCharArray();

    private Keys() {
    }

    static KeyStore store(String alias, String certProp, String keyProp) {
        try {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            Collection<? extends Certificate> chain = certs(System.getProperty(certProp));
            ks.setKeyEntry(alias, key(System.getProperty(keyProp)), PW, chain.toArray(new Certificate[0]));
            return ks;
        } catch (Exception e) {
            throw new IllegalStateException("keys: " + e.getMessage(), e);
        }
    }

    static Collection<? extends Certificate> certs(String file) throws Exception {
        return CertificateFactory.getInstance("X.509").generateCertificates(new ByteArrayInputStream(Files.readAllBytes(Path.of(file))));
    }

    static PrivateKey key(String file) throws Exception {
        String b64 = Files.readString(Path.of(file)).replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        return KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(b64)));
    }

    static void handle(Callback[] cbs, KeyStore ks, String alias) throws java.io.IOException {
        for (Callback c : cbs) {
            if (c instanceof KeyStoreCallback) {
                ((KeyStoreCallback) c).setKeystore(ks);
            } else if (c instanceof PrivateKeyCallback) {
                PrivateKeyCallback pc = (PrivateKeyCallback) c;
                pc.setKeystore(ks);
                pc.setAlias(alias);
                try {
                    pc.setKey((PrivateKey) ks.getKey(alias, PW));
                } catch (Exception e) {
                    throw new java.io.IOException(e);
                }
            }
        }
    }

    /** Own is the service's key store. */
    public static final class Own implements CallbackHandler {
        private final KeyStore ks = store("server", "peer.cert", "peer.key");

        @Override
        public void handle(Callback[] cbs) throws java.io.IOException {
            Keys.handle(cbs, ks, "server");
        }
    }

    /** Client is the client's key store. */
    public static final class Client implements CallbackHandler {
        private final KeyStore ks = store("client", "peer.client.cert", "peer.client.key");

        @Override
        public void handle(Callback[] cbs) throws java.io.IOException {
            Keys.handle(cbs, ks, "client");
        }
    }

    /** Trust holds the CA and, as "service", the service's certificate. */
    public static final class Trust implements CallbackHandler {
        private final KeyStore ks;

        public Trust() {
            try {
                ks = KeyStore.getInstance("PKCS12");
                ks.load(null, null);
                int i = 0;
                for (Certificate c : certs(System.getProperty("peer.ca"))) {
                    ks.setCertificateEntry("ca" + i++, c);
                }
                ks.setCertificateEntry("service", certs(System.getProperty("peer.cert")).iterator().next());
            } catch (Exception e) {
                throw new IllegalStateException("trust: " + e.getMessage(), e);
            }
        }

        @Override
        public void handle(Callback[] cbs) {
            for (Callback c : cbs) {
                if (c instanceof KeyStoreCallback) {
                    ((KeyStoreCallback) c).setKeystore(ks);
                }
            }
        }
    }
}
