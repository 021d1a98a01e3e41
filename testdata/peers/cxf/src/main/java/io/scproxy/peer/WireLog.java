package io.scproxy.peer;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import org.apache.cxf.interceptor.Fault;
import org.apache.cxf.io.CacheAndWriteOutputStream;
import org.apache.cxf.io.CachedOutputStream;
import org.apache.cxf.io.CachedOutputStreamCallback;
import org.apache.cxf.message.Message;
import org.apache.cxf.phase.AbstractPhaseInterceptor;
import org.apache.cxf.phase.Phase;

/**
 * WireLog writes every message the service receives and sends, byte for
 * byte, as one JSON object a line: dir (in, out), path, the content type,
 * the SOAPAction header, the HTTP status of answers, and the message.
 */
final class WireLog {
    private final PrintStream out;

    WireLog(PrintStream out) {
        this.out = out;
    }

    AbstractPhaseInterceptor<Message> in() {
        return new AbstractPhaseInterceptor<Message>(Phase.RECEIVE) {
            @Override
            public void handleMessage(Message m) throws Fault {
                InputStream is = m.getContent(InputStream.class);
                if (is == null) {
                    return;
                }
                try {
                    byte[] b = is.readAllBytes();
                    m.setContent(InputStream.class, new ByteArrayInputStream(b));
                    write("in", path(m), (String) m.get(Message.CONTENT_TYPE), soapAction(m), 0, b);
                } catch (IOException e) {
                    throw new Fault(e);
                }
            }
        };
    }

    AbstractPhaseInterceptor<Message> out() {
        return new AbstractPhaseInterceptor<Message>(Phase.PRE_STREAM) {
            @Override
            public void handleMessage(Message m) throws Fault {
                OutputStream os = m.getContent(OutputStream.class);
                if (os == null) {
                    return;
                }
                CacheAndWriteOutputStream cw = new CacheAndWriteOutputStream(os);
                m.setContent(OutputStream.class, cw);
                Message req = m.getExchange() == null ? null : m.getExchange().getInMessage();
                String p = req == null ? "" : path(req);
                cw.registerCallback(new CachedOutputStreamCallback() {
                    @Override
                    public void onFlush(CachedOutputStream cos) {
                    }

                    @Override
                    public void onClose(CachedOutputStream cos) {
                        try {
                            Object code = m.get(Message.RESPONSE_CODE);
                            int status = code instanceof Integer ? (Integer) code : 0;
                            write("out", p, (String) m.get(Message.CONTENT_TYPE), "", status, cos.getBytes());
                        } catch (IOException e) {
                            // the answer went out; only its log line is lost
                        }
                    }
                });
            }
        };
    }

    private static String path(Message m) {
        Object p = m.get(Message.REQUEST_URI);
        return p == null ? "" : p.toString();
    }

    @SuppressWarnings("unchecked")
    private static String soapAction(Message m) {
        Object h = m.get(Message.PROTOCOL_HEADERS);
        if (h instanceof Map) {
            for (Map.Entry<String, List<String>> e : ((Map<String, List<String>>) h).entrySet()) {
                if ("SOAPAction".equalsIgnoreCase(e.getKey()) && e.getValue() != null && !e.getValue().isEmpty()) {
                    return e.getValue().get(0);
                }
            }
        }
        return "";
    }

    synchronized void write(String dir, String path, String ct, String action, int status, byte[] body) {
        StringBuilder sb = new StringBuilder(body.length + 256);
        sb.append("{\"time\":");
        quote(sb, Instant.now().toString());
        sb.append(",\"dir\":");
        quote(sb, dir);
        sb.append(",\"path\":");
        quote(sb, path);
        sb.append(",\"contentType\":");
        quote(sb, ct == null ? "" : ct);
        sb.append(",\"soapAction\":");
        quote(sb, action == null ? "" : action);
        sb.append(",\"status\":").append(status);
        sb.append(",\"message\":");
        quote(sb, new String(body, StandardCharsets.UTF_8));
        sb.append('}');
        out.println(sb);
        out.flush();
    }

    static void quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
            case '"': sb.append("\\\""); break;
            case '\\': sb.append("\\\\"); break;
            case '\n': sb.append("\\n"); break;
            case '\r': sb.append("\\r"); break;
            case '\t': sb.append("\\t"); break;
            default:
                if (c < 0x20) {
                    sb.append(String.format("\\u%04x", (int) c));
                } else {
                    sb.append(c);
                }
            }
        }
        sb.append('"');
    }
}
