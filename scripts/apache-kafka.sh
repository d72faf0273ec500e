#!/usr/bin/env bash
# Fetches Apache Kafka's broker and client jars (with their dependencies) from Maven Central
# into .cache/apache-kafka/lib, once. Prints the lib directory. Needs Java 17+ and Maven.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${APACHE_KAFKA_VERSION:-4.1.1}"  # the 4.x release the suite pins
DIR=".cache/apache-kafka/$VERSION"
if [ -f "$DIR/.complete" ]; then
  echo "$PWD/$DIR/lib"
  exit 0
fi
mkdir -p "$DIR"
cat > "$DIR/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>ferrokafka.test</groupId>
  <artifactId>apache-kafka-jars</artifactId>
  <version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-clients</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
POM
mvn -q -f "$DIR/pom.xml" dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime >&2
touch "$DIR/.complete"
echo "$PWD/$DIR/lib"
