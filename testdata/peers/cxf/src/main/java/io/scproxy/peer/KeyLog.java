package io.scproxy.peer;

import java.io.PrintStream;
import java.time.Instant;
import java.util.Base64;

import org.apache.cxf.ws.security.tokenstore.MemoryTokenStore;
import org.apache.cxf.ws.security.tokenstore.SecurityToken;

/**
 * KeyLog is the token store of the message-security endpoints: a memory
 * store that also writes, for each token with a secret it is given, one
 * JSON line (time, the endpoint's path, the token's id and type, its secret
 * in base64), so that the captured messages of a test can be checked with
 * the keys the service used. The test peer alone does this: the keys of
 * throwaway contexts, made for the tests.
 */
final class KeyLog extends MemoryTokenStore {
    private final PrintStream out;
    private final String path;

    KeyLog(PrintStream out, String path) {
        this.out = out;
        this.path = path;
    }

    @Override
    public void add(SecurityToken token) {
        super.add(token);
        if (token != null) {
            log(token.getId(), token);
        }
    }

    @Override
    public void add(String identifier, SecurityToken token) {
        super.add(identifier, token);
        log(identifier, token);
    }

    private void log(String id, SecurityToken token) {
        if (out == null || token == null || token.getSecret() == null || id == null) {
            return;
        }
        StringBuilder sb = new StringBuilder(256);
        sb.append("{\"time\":");
        WireLog.quote(sb, Instant.now().toString());
        sb.append(",\"path\":");
        WireLog.quote(sb, "/" + path);
        sb.append(",\"id\":");
        WireLog.quote(sb, id);
        sb.append(",\"type\":");
        WireLog.quote(sb, token.getTokenType() == null ? "" : token.getTokenType());
        sb.append(",\"secret\":");
        WireLog.quote(sb, Base64.getEncoder().encodeToString(token.getSecret()));
        sb.append('}');
        synchronized (out) {
            out.println(sb);
            out.flush();
        }
    }
}
