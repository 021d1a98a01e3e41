package io.scproxy.peer;

import java.util.List;

/**
 * A message-security scenario: a SymmetricBinding whose protection token is
 * the security context token, bootstrapped without TLS. Its endpoint path
 * names every setting, so that a client (CXF's or scproxy's) can be set up
 * from the path alone:
 * msg/BOOTSTRAP/VERSION/ORDER/dk|nodk/cancel|nocancel/SUITE/soap11|soap12.
 *
 * BOOTSTRAP is anonymous (AnonymousForCertificate), username
 * (UserNameForCertificate), mutual (MutualCertificate) or mutual10
 * (MutualCertificate10, an AsymmetricBinding); VERSION 2005 (WS-SP 2005/07,
 * WS-SC February 2005) or 13 (WS-SP 1.2, WS-SC 1.3); ORDER
 * sign-encrypt-signature (SignBeforeEncrypting with EncryptSignature),
 * sign-encrypt or encrypt-sign (EncryptBeforeSigning); nocancel is
 * MustNotSendCancel; SUITE a WS-SP algorithm suite name.
 */
record MsgScenario(String bootstrap, String version, String order, boolean derived, boolean cancel,
        String suite, String soap) {

    /**
     * ALL is the covering set the peer serves: every bootstrap, every
     * protection order, both versions, derived keys on and off, Cancel and
     * MustNotSendCancel, SOAP 1.1 and 1.2, three algorithm suites. The
     * EncryptBeforeSigning scenarios have MustNotSendCancel: the service
     * checks a Cancel against a binding of its own (signed by the context,
     * sign before encrypt), which refuses a Cancel encrypted first.
     */
    static final List<MsgScenario> ALL = List.of(
        new MsgScenario("anonymous", "2005", "sign-encrypt-signature", true, true, "Basic256", "soap12"),
        new MsgScenario("anonymous", "13", "sign-encrypt", false, false, "Basic256", "soap12"),
        new MsgScenario("anonymous", "2005", "encrypt-sign", true, false, "Basic128", "soap11"),
        new MsgScenario("anonymous", "13", "sign-encrypt-signature", true, true, "Basic256Sha256", "soap11"),
        new MsgScenario("username", "2005", "sign-encrypt-signature", true, false, "Basic256", "soap12"),
        new MsgScenario("username", "13", "encrypt-sign", true, false, "Basic256Sha256", "soap12"),
        new MsgScenario("username", "13", "sign-encrypt", false, true, "Basic256", "soap11"),
        new MsgScenario("username", "2005", "sign-encrypt", false, true, "Basic128", "soap11"),
        new MsgScenario("mutual", "2005", "sign-encrypt", true, true, "Basic256", "soap12"),
        new MsgScenario("mutual", "13", "sign-encrypt-signature", false, false, "Basic256", "soap12"),
        new MsgScenario("mutual", "2005", "encrypt-sign", false, false, "Basic256", "soap11"),
        new MsgScenario("mutual10", "2005", "sign-encrypt", false, true, "Basic256", "soap12"),
        new MsgScenario("mutual10", "13", "sign-encrypt-signature", true, false, "Basic256", "soap12"),
        new MsgScenario("mutual10", "13", "encrypt-sign", true, false, "Basic128", "soap11"));

    /** path is the scenario's endpoint path, without a leading slash. */
    String path() {
        return String.join("/", "msg", bootstrap, version, order, derived ? "dk" : "nodk",
            cancel ? "cancel" : "nocancel", suite, soap);
    }

    /** parse reads a path made by path() (a leading slash allowed). */
    static MsgScenario parse(String path) {
        String[] f = path.replaceFirst("^/", "").split("/");
        if (f.length != 8 || !"msg".equals(f[0])) {
            throw new IllegalArgumentException("not a message scenario path: " + path);
        }
        return new MsgScenario(f[1], f[2], f[3], "dk".equals(f[4]), "cancel".equals(f[5]), f[6], f[7]);
    }

    boolean soap12() {
        return "soap12".equals(soap);
    }
}
