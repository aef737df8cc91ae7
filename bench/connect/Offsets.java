// Writes Kafka Connect's standalone offsets file with one source offset, so that a Debezium source
// connector starts at a chosen position (the benchmark's first change) instead of the current end.
// The file is what FileOffsetBackingStore reads: a Java-serialized HashMap<byte[], byte[]> of the
// JSON-converted key ["<connector name>", {partition}] and value {offset}.
//   java bench/connect/Offsets.java FILE KEY_JSON VALUE_JSON
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.ObjectOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;

public class Offsets {
    public static void main(String[] args) throws IOException {
        HashMap<byte[], byte[]> map = new HashMap<>();
        map.put(args[1].getBytes(StandardCharsets.UTF_8), args[2].getBytes(StandardCharsets.UTF_8));
        try (ObjectOutputStream out = new ObjectOutputStream(new FileOutputStream(args[0]))) {
            out.writeObject(map);
        }
    }
}
