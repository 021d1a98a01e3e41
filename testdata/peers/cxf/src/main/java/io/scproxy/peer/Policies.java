package io.scproxy.peer;

/**
 * The WS-SecurityPolicy documents of the scenarios: message security (see
 * message) and SC over TLS (the
 * context token endorses the Timestamp of every message, HTTPS protects it)
 * with a bootstrap over TLS, in WS-SecurityPolicy 2005/07 (WS-SC February
 * 2005, WS-Trust 1.0) or 1.2 (WS-SC 1.3, WS-Trust 1.3).
 */
final class Policies {
    static final String WSP = "http://www.w3.org/ns/ws-policy";
    static final String SP11 = "http://schemas.xmlsoap.org/ws/2005/07/securitypolicy";
    static final String SP12 = "http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702";

    private Policies() {
    }

    /** The bootstrap credential of a scenario. */
    enum Bootstrap { USERNAME, CERTIFICATE }

    static String scOverTls(String version, Bootstrap bootstrap, boolean derivedKeys) {
        String sp = "2005".equals(version) ? SP11 : SP12;
        String include = sp + "/IncludeToken/AlwaysToRecipient";
        String trust = "2005".equals(version) ? "Trust10" : "Trust13";
        String bootstrapTokens;
        if (bootstrap == Bootstrap.USERNAME) {
            bootstrapTokens = "<sp:SignedSupportingTokens><wsp:Policy>"
                + "<sp:UsernameToken sp:IncludeToken='" + include + "'><wsp:Policy><sp:WssUsernameToken10/></wsp:Policy></sp:UsernameToken>"
                + "</wsp:Policy></sp:SignedSupportingTokens>";
        } else {
            bootstrapTokens = "<sp:EndorsingSupportingTokens><wsp:Policy>"
                + "<sp:X509Token sp:IncludeToken='" + include + "'><wsp:Policy><sp:WssX509V3Token10/></wsp:Policy></sp:X509Token>"
                + "</wsp:Policy></sp:EndorsingSupportingTokens>";
        }
        String transport = "<sp:TransportBinding><wsp:Policy>"
            + "<sp:TransportToken><wsp:Policy><sp:HttpsToken" + ("2005".equals(version) ? " RequireClientCertificate='false'/>" : "><wsp:Policy/></sp:HttpsToken>")
            + "</wsp:Policy></sp:TransportToken>"
            + "<sp:AlgorithmSuite><wsp:Policy><sp:Basic256/></wsp:Policy></sp:AlgorithmSuite>"
            + "<sp:Layout><wsp:Policy><sp:Lax/></wsp:Policy></sp:Layout>"
            + "<sp:IncludeTimestamp/>"
            + "</wsp:Policy></sp:TransportBinding>";
        String wss11 = "<sp:Wss11><wsp:Policy/></sp:Wss11>";
        String trustPolicy = "<sp:" + trust + "><wsp:Policy><sp:MustSupportIssuedTokens/>"
            + "<sp:RequireClientEntropy/><sp:RequireServerEntropy/></wsp:Policy></sp:" + trust + ">";
        return "<wsp:Policy xmlns:wsp='" + WSP + "' xmlns:sp='" + sp + "'>"
            + "<wsp:ExactlyOne><wsp:All>"
            + transport
            + "<sp:EndorsingSupportingTokens><wsp:Policy>"
            + "<sp:SecureConversationToken sp:IncludeToken='" + include + "'><wsp:Policy>"
            + (derivedKeys ? "<sp:RequireDerivedKeys/>" : "")
            + "<sp:BootstrapPolicy><wsp:Policy>"
            + transport + bootstrapTokens + wss11 + trustPolicy
            + "</wsp:Policy></sp:BootstrapPolicy>"
            + "</wsp:Policy></sp:SecureConversationToken>"
            + "</wsp:Policy></sp:EndorsingSupportingTokens>"
            + wss11 + trustPolicy
            + "</wsp:All></wsp:ExactlyOne></wsp:Policy>";
    }

    /** The namespace of WCF's policy assertions (MustNotSendCancel under WS-SP 2005/07). */
    static final String MSSP = "http://schemas.microsoft.com/ws/2005/07/securitypolicy";
    static final String WSA10 = "http://www.w3.org/2005/08/addressing";

    /**
     * message is the policy of a message-security scenario: a
     * SymmetricBinding protected by the context token, which a
     * BootstrapPolicy of the scenario's bootstrap obtains without TLS; the
     * Body and the WS-Addressing headers signed and the Body encrypted, in
     * the scenario's protection order, by the bootstrap and by every
     * message after it.
     */
    static String message(MsgScenario s) {
        String sp = "2005".equals(s.version()) ? SP11 : SP12;
        String always = sp + "/IncludeToken/AlwaysToRecipient";
        String never = sp + "/IncludeToken/Never";
        String dk = s.derived() ? "<sp:RequireDerivedKeys/>" : "";
        String trust = "2005".equals(s.version()) ? "Trust10" : "Trust13";
        String trustPolicy = "<sp:" + trust + "><wsp:Policy><sp:MustSupportIssuedTokens/>"
            + "<sp:RequireClientEntropy/><sp:RequireServerEntropy/></wsp:Policy></sp:" + trust + ">";
        String wss11 = "<sp:Wss11><wsp:Policy><sp:MustSupportRefKeyIdentifier/><sp:MustSupportRefIssuerSerial/>"
            + "<sp:MustSupportRefThumbprint/><sp:MustSupportRefEncryptedKey/></wsp:Policy></sp:Wss11>";
        // WCF's bootstrap confirms signatures; its steady state does not.
        String bootstrapWss11 = wss11.replace("</wsp:Policy></sp:Wss11>", "<sp:RequireSignatureConfirmation/></wsp:Policy></sp:Wss11>");
        String wss10 = "<sp:Wss10><wsp:Policy><sp:MustSupportRefKeyIdentifier/><sp:MustSupportRefIssuerSerial/>"
            + "</wsp:Policy></sp:Wss10>";
        StringBuilder parts = new StringBuilder("<sp:SignedParts><sp:Body/>");
        for (String h : new String[] {"To", "From", "FaultTo", "ReplyTo", "MessageID", "RelatesTo", "Action"}) {
            parts.append("<sp:Header Name='").append(h).append("' Namespace='").append(WSA10).append("'/>");
        }
        parts.append("</sp:SignedParts><sp:EncryptedParts><sp:Body/></sp:EncryptedParts>");
        String suite = "<sp:AlgorithmSuite><wsp:Policy><sp:" + s.suite() + "/></wsp:Policy></sp:AlgorithmSuite>";
        String order = switch (s.order()) {
            case "sign-encrypt-signature" -> "<sp:EncryptSignature/>";
            case "encrypt-sign" -> "<sp:EncryptBeforeSigning/>";
            case "sign-encrypt" -> "";
            default -> throw new IllegalArgumentException("protection order " + s.order());
        };
        String tail = "<sp:IncludeTimestamp/>" + order + "<sp:OnlySignEntireHeadersAndBody/>";
        String strict = "<sp:Layout><wsp:Policy><sp:Strict/></wsp:Policy></sp:Layout>";
        String x509 = "<wsp:Policy><sp:WssX509V3Token10/></wsp:Policy>";

        String bootstrapBinding;
        String bootstrapTokens = "";
        String bootstrapWss = bootstrapWss11;
        if ("mutual10".equals(s.bootstrap())) {
            bootstrapBinding = "<sp:AsymmetricBinding><wsp:Policy>"
                + "<sp:InitiatorToken><wsp:Policy><sp:X509Token sp:IncludeToken='" + always + "'>" + x509
                + "</sp:X509Token></wsp:Policy></sp:InitiatorToken>"
                + "<sp:RecipientToken><wsp:Policy><sp:X509Token sp:IncludeToken='" + never + "'>" + x509
                + "</sp:X509Token></wsp:Policy></sp:RecipientToken>"
                + suite + strict + tail + "</wsp:Policy></sp:AsymmetricBinding>";
            bootstrapWss = wss10;
        } else {
            bootstrapBinding = "<sp:SymmetricBinding><wsp:Policy>"
                + "<sp:ProtectionToken><wsp:Policy><sp:X509Token sp:IncludeToken='" + never + "'><wsp:Policy>"
                + dk + "<sp:RequireThumbprintReference/><sp:WssX509V3Token10/></wsp:Policy></sp:X509Token>"
                + "</wsp:Policy></sp:ProtectionToken>"
                + suite + strict + tail + "</wsp:Policy></sp:SymmetricBinding>";
            if ("username".equals(s.bootstrap())) {
                // WS-SP 2005/07 has no SignedEncryptedSupportingTokens.
                String kind = "2005".equals(s.version()) ? "SignedSupportingTokens" : "SignedEncryptedSupportingTokens";
                bootstrapTokens = "<sp:" + kind + "><wsp:Policy><sp:UsernameToken sp:IncludeToken='" + always + "'>"
                    + "<wsp:Policy><sp:WssUsernameToken10/></wsp:Policy></sp:UsernameToken></wsp:Policy></sp:" + kind + ">";
            } else if ("mutual".equals(s.bootstrap())) {
                bootstrapTokens = "<sp:EndorsingSupportingTokens><wsp:Policy><sp:X509Token sp:IncludeToken='" + always + "'>"
                    + x509 + "</sp:X509Token></wsp:Policy></sp:EndorsingSupportingTokens>";
            } else if (!"anonymous".equals(s.bootstrap())) {
                throw new IllegalArgumentException("bootstrap " + s.bootstrap());
            }
        }
        String noCancel = "";
        if (!s.cancel()) {
            noCancel = "2005".equals(s.version())
                ? "<mssp:MustNotSendCancel xmlns:mssp='" + MSSP + "'/>"
                : "<sp:MustNotSendCancel/>";
        }
        return "<wsp:Policy xmlns:wsp='" + WSP + "' xmlns:sp='" + sp + "'>"
            + "<wsp:ExactlyOne><wsp:All>"
            + "<sp:SymmetricBinding><wsp:Policy>"
            + "<sp:ProtectionToken><wsp:Policy>"
            + "<sp:SecureConversationToken sp:IncludeToken='" + always + "'><wsp:Policy>"
            + dk + noCancel
            + "<sp:BootstrapPolicy><wsp:Policy>"
            + parts + bootstrapBinding + bootstrapTokens + bootstrapWss + trustPolicy
            + "</wsp:Policy></sp:BootstrapPolicy>"
            + "</wsp:Policy></sp:SecureConversationToken>"
            + "</wsp:Policy></sp:ProtectionToken>"
            + suite + "<sp:Layout><wsp:Policy><sp:Lax/></wsp:Policy></sp:Layout>" + tail
            + "</wsp:Policy></sp:SymmetricBinding>"
            + parts + wss11 + trustPolicy
            + "</wsp:All></wsp:ExactlyOne></wsp:Policy>";
    }
}
