package io.scproxy.peer;

/**
 * The WS-SecurityPolicy documents of the scenarios: SC over TLS (the
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
}
