// Local MongoDB stand-in for shiftlog: mongo-java-server 1.46.0 on a chosen backend.
//
//   java -Xmx1g -cp "$LIBS/*" Launcher.java --port 27117 [--host 127.0.0.1] \
//        [--store memory|h2] [--file PATH]
//
// Java 11+ runs this single source file directly (no build step). The classpath holds the jars
// that deploy/local/install copies from Maven Central (mongo-java-server, its memory and H2
// backends, slf4j-simple). API checked with javap against the 1.46.0 jars:
//   new MongoServer(MongoBackend); bind(String host, int port); shutdown() (closes the backend,
//   so H2Backend's MVStore is committed and closed); new MemoryBackend(); new H2Backend(String file).
//
// Prints "shiftlog-mongo ready on HOST:PORT store=... file=..." once it listens, and shuts
// down cleanly on SIGTERM/SIGINT through a shutdown hook. Exit 2 on bad arguments, 1 when it
// cannot bind.

import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;

public class Launcher {
    private static void usage(String why) {
        System.err.println("Launcher: " + why);
        System.err.println("usage: Launcher --port N [--host 127.0.0.1] [--store memory|h2] [--file PATH]");
        System.exit(2);
    }

    public static void main(String[] args) {
        String host = "127.0.0.1";
        int port = 27117;
        String store = "memory";
        String file = null;

        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (i + 1 >= args.length)
                usage("option " + a + " needs a value");
            String v = args[++i];
            switch (a) {
            case "--port":
                try {
                    port = Integer.parseInt(v);
                } catch (NumberFormatException e) {
                    usage("--port: not a number: " + v);
                }
                break;
            case "--host":
                host = v;
                break;
            case "--store":
                store = v;
                break;
            case "--file":
                file = v;
                break;
            default:
                usage("unknown option " + a);
            }
        }

        MongoBackend backend;
        if (store.equals("memory")) {
            backend = new MemoryBackend();
        } else if (store.equals("h2")) {
            if (file == null || file.isEmpty())
                usage("--store h2 needs --file PATH");
            backend = new H2Backend(file);
        } else {
            usage("--store must be memory or h2, not " + store);
            return;
        }

        final MongoServer server = new MongoServer(backend);
        try {
            server.bind(host, port);
        } catch (RuntimeException e) {
            System.err.println("Launcher: cannot listen on " + host + ":" + port + ": " + e);
            backend.close();
            System.exit(1);
        }

        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("shiftlog-mongo shutting down");
            System.out.flush();
            server.shutdown();
            System.out.println("shiftlog-mongo stopped");
            System.out.flush();
        }, "shiftlog-mongo-shutdown"));

        System.out.println("shiftlog-mongo ready on " + host + ":" + port + " store=" + store
                + (file != null && store.equals("h2") ? " file=" + file : ""));
        System.out.flush();
        // The netty event loop threads keep the JVM alive until the shutdown hook runs.
    }
}
