package io.scproxy.peer;

import java.io.StringReader;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import javax.xml.transform.Source;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.stream.StreamResult;
import javax.xml.transform.stream.StreamSource;

import jakarta.xml.ws.Dispatch;

/**
 * Load is the closed loop of the load clients: one caller per Dispatch,
 * each sending a Process payload of a given size again and again until a
 * deadline and checking that it comes back.
 */
final class Load {
    private static final TransformerFactory TF = TransformerFactory.newInstance();
    /** The callers' threads live as long as the client, run after run. */
    private static final ExecutorService WORKERS = Executors.newCachedThreadPool();

    private Load() {
    }

    /**
     * run calls every dispatch in a loop of its own for millis with
     * size-byte payloads and answers
     * "DONE messages errors nanoseconds [first error]".
     */
    static String run(List<Dispatch<Source>> dispatches, int size, long millis) throws Exception {
        String payload = payload(size);
        AtomicLong ok = new AtomicLong();
        AtomicLong errs = new AtomicLong();
        AtomicReference<String> first = new AtomicReference<>("");
        long deadline = System.nanoTime() + millis * 1_000_000L;
        List<Future<?>> ts = new ArrayList<>();
        long start = System.nanoTime();
        for (Dispatch<Source> d : dispatches) {
            ts.add(WORKERS.submit(() -> {
                while (System.nanoTime() < deadline) {
                    try {
                        Source r = d.invoke(new StreamSource(new StringReader(payload)));
                        StringWriter w = new StringWriter(payload.length() + 64);
                        TF.newTransformer().transform(r, new StreamResult(w));
                        if (w.getBuffer().indexOf("</p:Process>") < 0 && w.getBuffer().indexOf("Process>") < 0) {
                            throw new IllegalStateException("unexpected answer");
                        }
                        ok.incrementAndGet();
                    } catch (Exception e) {
                        errs.incrementAndGet();
                        first.compareAndSet("", String.valueOf(e.getMessage()).replace('\n', ' '));
                    }
                }
            }));
        }
        for (Future<?> t : ts) {
            t.get();
        }
        long elapsed = System.nanoTime() - start;
        return "DONE " + ok.get() + " " + errs.get() + " " + elapsed + " " + first.get();
    }

    /** payload is a Process element of about size bytes. */
    static String payload(int size) {
        StringBuilder b = new StringBuilder(size + 64);
        b.append("<p:Process xmlns:p=\"urn:scproxy:bench\">");
        String tail = "</p:Process>";
        for (int i = 0; b.length() < size - tail.length() - 40; i++) {
            b.append("<p:item n=\"").append(i).append("\">value ").append(i).append("</p:item>");
        }
        return b.append(tail).toString();
    }
}
