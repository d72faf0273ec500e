#!/usr/bin/env bash
# Fetches Apache Kafka's broker, tools and client jars (with their dependencies) from Maven
# Central into .cache/apache-kafka/VERSION/lib with the machine's Maven, once: a second run
# with the same pom touches no network. Prints the lib directory. Needs Java 17+ and Maven.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${APACHE_KAFKA_VERSION:-4.1.1}"  # the 4.x release the suite pins
DIR=".cache/apache-kafka/$VERSION"

# Kafka's poms name slf4j-api 1.7 (the clients stay compatible with it), but its distribution
# runs on SLF4J 2 with Log4j 2; with 1.7 the log4j-slf4j2 binding is not found and every log
# line goes nowhere. So SLF4J 2 is pinned here, as in Kafka's own libs/ directory.
POM="<project xmlns=\"http://maven.apache.org/POM/4.0.0\">
  <modelVersion>4.0.0</modelVersion>
  <groupId>ferrokafka.test</groupId>
  <artifactId>apache-kafka-jars</artifactId>
  <version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-server</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-clients</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>2.0.17</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
"
STAMP="$(printf '%s' "$POM" | sha256sum | cut -c1-16)"
if [ "$(cat "$DIR/.complete" 2>/dev/null)" = "$STAMP" ]; then
  echo "$PWD/$DIR/lib"
  exit 0
fi
command -v mvn >/dev/null || { echo "apache-kafka.sh: Maven (mvn) is needed to fetch Kafka's jars" >&2; exit 1; }
mkdir -p "$DIR"
rm -rf "$DIR/lib" "$DIR/.complete"
printf '%s' "$POM" > "$DIR/pom.xml"
mvn -q -B -f "$DIR/pom.xml" dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime >&2
ls "$DIR/lib/kafka_2.13-$VERSION.jar" "$DIR/lib/kafka-clients-$VERSION.jar" >/dev/null
echo "$STAMP" > "$DIR/.complete"
echo "$PWD/$DIR/lib"
