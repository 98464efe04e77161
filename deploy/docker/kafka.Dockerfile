# syntax=docker/dockerfile:1
# The broker of docker-compose.yml: the apache/kafka image plus the Prometheus JMX exporter's java
# agent and its rules, as `make up` runs it (infra/bin/run-kafka.sh). The agent comes from Maven
# Central at the version infra/kafka/pom.xml pins, fetched by the same pom; docker-compose.yml
# attaches it through KAFKA_OPTS and it serves the broker's metrics on :9404.
#
#   docker build -f deploy/docker/kafka.Dockerfile -t order-platform/kafka:4.1.1 .

ARG KAFKA_IMAGE=apache/kafka:4.1.1
ARG MAVEN_IMAGE=maven:3.9.9-eclipse-temurin-17

FROM ${MAVEN_IMAGE} AS jmx-agent
COPY infra/kafka/pom.xml /build/pom.xml
RUN mvn -B -q -f /build/pom.xml dependency:copy@jmx-agent -Dagent.outputDirectory=/agent

FROM ${KAFKA_IMAGE}
COPY --from=jmx-agent /agent/jmx_prometheus_javaagent.jar /opt/jmx-exporter/jmx_prometheus_javaagent.jar
COPY infra/kafka/jmx-exporter.yml /opt/jmx-exporter/kafka.yml
