// One OpenSearch node embedded in a plain JVM, started by leapfrog's `opensearch` component.
//
// OpenSearch's own entry point (org.opensearch.bootstrap.OpenSearch) refuses to run as root
// and expects the distribution's layout (bin/, modules/, a keystore); leapfrog runs the
// node from Maven Central's jars, as root or as the app user. So this launcher builds the
// node's environment from the opensearch.yml leapfrog wrote, starts a Node with the module
// plugins that are on the classpath, and closes it on SIGTERM (a JVM shutdown hook).
//
// Usage: java -cp <jars> LeapfrogOpenSearch <config dir>

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.logging.log4j.LogManager;
import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

public final class LeapfrogOpenSearch extends Node {
    private static final List<Class<? extends Plugin>> MODULES = List.of(
        Netty4Plugin.class,          // the HTTP and transport layers
        CommonAnalysisPlugin.class,  // the usual analyzers, tokenizers and filters
        PainlessPlugin.class,        // scripts (update by query, ingest, sorting)
        ReindexPlugin.class          // _reindex, _update_by_query, _delete_by_query
    );

    private LeapfrogOpenSearch(Environment environment, Collection<Class<? extends Plugin>> plugins) {
        super(environment, plugins, true);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: LeapfrogOpenSearch <config dir holding opensearch.yml>");
            System.exit(2);
        }
        Path config = Paths.get(args[0]).toAbsolutePath();
        // The instance's own temp folder (native libraries are unpacked there).
        Path tmp = Paths.get(System.getProperty("java.io.tmpdir"));
        // prepareEnvironment needs path.home before it reads opensearch.yml itself, so the
        // file is read here first; both reads give the same settings.
        Settings written = Settings.builder().loadFromPath(config.resolve("opensearch.yml")).build();
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            written, Map.of(), config, () -> "leapfrog");
        // The index data, snapshots and temp files are readable by their owner only.
        for (Path[] paths : List.of(environment.dataFiles(), environment.repoFiles(), new Path[] {tmp})) {
            for (Path path : paths) {
                Files.createDirectories(path);
                Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rwx------"));
            }
        }
        Node node = new LeapfrogOpenSearch(environment, MODULES);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                LogManager.shutdown();
                stopped.countDown();
            }
        }, "leapfrog-shutdown"));
        try {
            node.start();
        } catch (Exception e) {
            System.err.println("OpenSearch did not start: " + e);
            e.printStackTrace();
            Runtime.getRuntime().halt(1);
        }
        stopped.await();
    }
}
