#!/usr/bin/env bash
# The one lakewatch launcher.
#
#   ./spark-submit.sh <job> [spark-submit options] [job options]
#   ./spark-submit.sh test [pytest options]     run the test suite
#   ./spark-submit.sh setup                     only create the environment
#   ./spark-submit.sh --help                    list the jobs
#
# On first use it creates the virtual environment (.venv, or $LAKEWATCH_VENV), installs the
# pinned Python dependencies and lakewatch itself, and resolves the jars in conf/packages.txt
# from Maven Central into the local Maven cache (~/.m2), where Spark's resolver finds them
# without a network at run time. Spark options (--master, --conf, --driver-memory, ...) given
# before the job's own options are passed to spark-submit; the master defaults to local[*].
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=${LAKEWATCH_VENV:-$ROOT/.venv}
PY=${LAKEWATCH_PYTHON:-python3}
JARS_FILE="$VENV/lakewatch-jars.txt"

log() { printf '[lakewatch] %s\n' "$*" >&2; }
die() { printf '[lakewatch] error: %s\n' "$*" >&2; exit 2; }

list_jobs() {
  echo "usage: ./spark-submit.sh <job> [spark options] [job options]   (./spark-submit.sh <job> --help for a job's options)"
  echo
  echo "jobs:"
  local f name doc
  for f in "$ROOT"/jobs/*.py; do
    name=$(basename "$f" .py)
    [[ $name == _* ]] && continue
    doc=$(sed -n 's/^"""\(.*\)/\1/p' "$f" | head -n 1 | sed 's/"""$//')
    printf '  %-14s %s\n' "$name" "$doc"
  done
  echo
  echo "other commands:"
  printf '  %-14s %s\n' test "run the test suite (pytest options may follow)"
  printf '  %-14s %s\n' setup "create the virtual environment and resolve the jars, nothing else"
  printf '  %-14s %s\n' spark-sql "Spark's SQL shell on the lakewatch catalog (\$LAKEWATCH_TABLE_ROOT picks the lakehouse)"
}

requirements_stamp() {
  cat "$ROOT/requirements.txt" "$ROOT/setup.py" | sha256sum | cut -d' ' -f1
}

ensure_venv() {
  local stamp_file="$VENV/.lakewatch-stamp" want
  want=$(requirements_stamp)
  if [[ -f $stamp_file && $(cat "$stamp_file") == "$want" ]]; then
    return
  fi
  log "creating the Python environment in $VENV (first run only; a few minutes)"
  [[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip setuptools wheel
  "$VENV/bin/python" -m pip install --quiet -r "$ROOT/requirements.txt"
  "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$ROOT"
  echo "$want" > "$stamp_file"
}

package_coordinates() {
  grep -v '^\s*#' "$ROOT/conf/packages.txt" | sed '/^\s*$/d'
}

jars_pom() {
  echo '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
  echo '<groupId>lakewatch</groupId><artifactId>lakewatch-jars</artifactId><version>1</version><dependencies>'
  local coord group artifact version
  for coord in $(package_coordinates); do
    IFS=: read -r group artifact version <<< "$coord"
    echo "<dependency><groupId>$group</groupId><artifactId>$artifact</artifactId><version>$version</version></dependency>"
  done
  echo '</dependencies></project>'
}

artifact_name() {
  # /x/y/hadoop-client-runtime-3.4.2.jar -> hadoop-client-runtime
  basename "$1" | sed -E 's/-[0-9][^/]*\.jar$//'
}

ensure_jars() {
  # Resolve conf/packages.txt and its runtime dependencies into ~/.m2 with Maven, then keep the jars
  # Spark does not already ship, as a comma-separated list in $JARS_FILE (read by --jars and get_spark).
  local stamp
  stamp=$({ cat "$ROOT/conf/packages.txt"; ls "$SPARK_HOME/jars"; } | sha256sum | cut -d' ' -f1)
  if [[ -f $JARS_FILE && -f $JARS_FILE.stamp && $(cat "$JARS_FILE.stamp") == "$stamp" ]]; then
    return
  fi
  command -v mvn > /dev/null || die "Maven (mvn) is needed once to resolve $(package_coordinates | paste -sd' ') into ~/.m2"
  log "resolving $(package_coordinates | paste -sd' ') from Maven Central into ~/.m2 (first run only)"
  local work
  work=$(mktemp -d)
  jars_pom > "$work/pom.xml"
  mvn --batch-mode --quiet -f "$work/pom.xml" dependency:build-classpath -Dmdep.outputFile="$work/cp.txt" \
    > "$work/mvn.log" 2>&1 || { cat "$work/mvn.log" >&2; die "Maven could not resolve conf/packages.txt"; }
  local shipped jar keep=()
  shipped=$(for jar in "$SPARK_HOME"/jars/*.jar; do artifact_name "$jar"; done | sort -u)
  for jar in $(tr ':' ' ' < "$work/cp.txt"); do
    grep -qxF "$(artifact_name "$jar")" <<< "$shipped" || keep+=("$jar")
  done
  (IFS=,; echo "${keep[*]}") > "$JARS_FILE"
  echo "$stamp" > "$JARS_FILE.stamp"
  rm -rf "$work"
}

activate() {
  export PYSPARK_PYTHON="$VENV/bin/python"
  export PYSPARK_DRIVER_PYTHON="$VENV/bin/python"
  export SPARK_HOME
  SPARK_HOME=$("$VENV/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
  export LAKEWATCH_HOME="$ROOT"
  export PATH="$VENV/bin:$PATH"
  export LAKEWATCH_JARS_FILE="$JARS_FILE"
}

log_config_option() {
  # Spark's console log: warnings and errors, without the metastore's routine notices (conf/log4j2.properties).
  echo "-Dlog4j2.configurationFile=$ROOT/conf/log4j2.properties"
}

# Spark options that take a value, so they can be told apart from the job's own options.
SPARK_VALUE_OPTS=" --master --deploy-mode --conf --driver-memory --executor-memory --executor-cores \
 --num-executors --total-executor-cores --jars --packages --repositories --files --py-files --name \
 --properties-file --driver-java-options --driver-class-path --queue --archives --principal --keytab "

run_job() {
  local job=$1; shift
  local script="$ROOT/jobs/$job.py"
  [[ -f $script ]] || { list_jobs >&2; die "unknown job '$job' (no jobs/$job.py)"; }
  local spark_args=() job_args=() has_master=0
  while [[ $# -gt 0 ]]; do
    if [[ $SPARK_VALUE_OPTS == *" $1 "* ]]; then
      [[ $# -ge 2 ]] || die "spark option $1 needs a value"
      [[ $1 == --master ]] && has_master=1
      spark_args+=("$1" "$2"); shift 2
    else
      job_args+=("$1"); shift
    fi
  done
  [[ $has_master == 1 ]] || spark_args+=(--master "${LAKEWATCH_MASTER:-local[*]}")
  exec "$SPARK_HOME/bin/spark-submit" \
    --jars "$(cat "$JARS_FILE")" \
    --conf "spark.pyspark.python=$PYSPARK_PYTHON" \
    --conf "spark.pyspark.driver.python=$PYSPARK_DRIVER_PYTHON" \
    --driver-java-options "-Dderby.system.home=${LAKEWATCH_DERBY_HOME:-$ROOT/delta_tables} $(log_config_option)" \
    "${spark_args[@]}" "$script" ${job_args[@]+"${job_args[@]}"}
}

main() {
  local cmd=${1:-}
  case $cmd in
    "" | -h | --help | help) list_jobs; return ;;
  esac
  shift
  ensure_venv
  activate
  ensure_jars
  case $cmd in
    setup) log "environment ready: $VENV" ;;
    test) cd "$ROOT" && exec "$VENV/bin/python" -m pytest "$@" ;;
    spark-sql)
      local conf_args
      mapfile -t conf_args < <("$VENV/bin/python" -m lakewatch.spark)
      exec "$SPARK_HOME/bin/spark-sql" --master "${LAKEWATCH_MASTER:-local[*]}" --jars "$(cat "$JARS_FILE")" \
        "${conf_args[@]}" "$@" ;;
    *) run_job "$cmd" "$@" ;;
  esac
}

main "$@"
