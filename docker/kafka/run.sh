#!/bin/sh
# KAFKA_* variables -> server.properties (as apache/kafka maps them: _ is '.', __ is '_', ___ is
# '-'), storage formatted once with CLUSTER_ID, then the broker in the foreground.
set -eu
conf=/opt/kafka/config/server.properties
env | grep '^KAFKA_' | grep -v -e '^KAFKA_HEAP_OPTS=' -e '^KAFKA_OPTS=' | while IFS='=' read -r name value; do
  key=$(printf '%s' "${name#KAFKA_}" | tr 'A-Z' 'a-z' | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g')
  printf '%s=%s\n' "$key" "$value"
done >"$conf"
cp="/opt/kafka/libs/*"
log4j="-Dlog4j.configuration=file:/opt/kafka/log4j.properties"
# shellcheck disable=SC2086
java $log4j -cp "$cp" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$conf" --ignore-formatted
# shellcheck disable=SC2086
exec java ${KAFKA_HEAP_OPTS:-} ${KAFKA_OPTS:-} -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true $log4j \
  -cp "$cp" kafka.Kafka "$conf"
