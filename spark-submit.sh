#!/usr/bin/env bash
# The one lakewatch launcher.
#
#   ./spark-submit.sh <job> [spark-submit options] [job options]
#   ./spark-submit.sh test [pytest options]     run the test suite
#   ./spark-submit.sh setup                     only create the environment
#   ./spark-submit.sh airflow <airflow args>    Airflow's CLI on lakewatch's DAGs (its own environment)
#   ./spark-submit.sh pack-env [--driver]       pack the wheel and what executors import (dist/lakewatch-env.tar.gz)
#   ./spark-submit.sh --help                    list the jobs
#
# On first use it creates the virtual environment (.venv, or $LAKEWATCH_VENV), installs the
# pinned Python dependencies and lakewatch itself, and resolves the jars in conf/packages.txt
# from Maven Central into the local Maven cache (~/.m2), where Spark's resolver finds them
# without a network at run time. Spark options (--master, --conf, --driver-memory, ...) given
# before the job's own options are passed to spark-submit; the master defaults to local[*].
# `--python-env ARCHIVE` (the launcher's own) ships a pack-env archive to the executors (and to a YARN
# cluster-mode driver) as their Python.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=${LAKEWATCH_VENV:-$ROOT/.venv}
PY=${LAKEWATCH_PYTHON:-python3}
# The resolved jar list (and the class-sharing archive beside it); $LAKEWATCH_JARS_FILE moves both out of a
# virtual environment that several checkouts with different conf/packages.txt share.
JARS_FILE=${LAKEWATCH_JARS_FILE:-$VENV/lakewatch-jars.txt}

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
  printf '  %-14s %s\n' catalog "start, status or stop the table root's catalog server (--table-root ROOT)"
  printf '  %-14s %s\n' airflow "Airflow's CLI on the DAGs of conf/workflows.yaml, e.g. airflow dags test lakewatch_ingest"
  printf '  %-14s %s\n' pack-env "pack the wheel and what executors import into dist/lakewatch-env.tar.gz (--python-env)"
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

java_bin() {
  if [[ -n ${JAVA_HOME:-} ]]; then echo "$JAVA_HOME/bin/java"; else echo java; fi
}

CDS_ARCHIVE="$(dirname "$JARS_FILE")/lakewatch-classes.jsa"
CDS_QUIET="-Xlog:cds=off -Xlog:cds+dynamic=off"

class_sharing_stamp() {
  # What the archive depends on: the jars (conf/packages.txt and Spark's own) and the JVM build.
  echo "$(cat "$JARS_FILE.stamp") $("$(java_bin)" -version 2>&1 | head -n 1)"
}

class_sharing_option() {
  # Class data sharing: the driver JVM maps the classes an earlier job loaded from an archive (kept in the
  # virtual environment) instead of loading and verifying them one by one; ~4 s of a 40 s evaluate_nab.
  # Prints the JVM option that uses the archive, or, when there is none for these jars and this JVM yet,
  # the one that records it as the job exits (a temporary file that record_class_sharing puts in place).
  if [[ -f $CDS_ARCHIVE && -f $CDS_ARCHIVE.stamp && $(cat "$CDS_ARCHIVE.stamp") == "$(class_sharing_stamp)" ]]; then
    echo "-XX:SharedArchiveFile=$CDS_ARCHIVE $CDS_QUIET"
  elif "$(java_bin)" -XX:+PrintFlagsFinal -version 2> /dev/null | grep -q ArchiveClassesAtExit; then
    echo "-XX:ArchiveClassesAtExit=$CDS_ARCHIVE.$$ $CDS_QUIET"
  fi
  return 0
}

record_class_sharing() {
  # After a job that recorded the archive: put it in place with its stamp if the job succeeded and ran Spark
  # SQL (~235 MB here; a job that stopped at its arguments leaves ~35 MB, not worth mapping); else drop it,
  # and a later job records it again.
  local status=$1 recorded="$CDS_ARCHIVE.$$" size=0
  [[ -f $recorded ]] && size=$(stat -c %s "$recorded")
  if [[ $status == 0 && $size -gt 100000000 ]]; then
    mv -f "$recorded" "$CDS_ARCHIVE"
    class_sharing_stamp > "$CDS_ARCHIVE.stamp"
  else
    rm -f "$recorded"
  fi
}

log_config_option() {
  # Spark's console log: warnings and errors, without the metastore's routine notices (conf/log4j2.properties).
  echo "-Dlog4j2.configurationFile=$ROOT/conf/log4j2.properties"
}

# Spark options that take a value, so they can be told apart from the job's own options: every one that
# `spark-submit --help` lists (tests/test_launcher.py checks this list against it).
SPARK_VALUE_OPTS=" --master --deploy-mode --class --name --jars --packages --exclude-packages --repositories \
 --py-files --files --archives --conf -c --properties-file --driver-memory --driver-java-options \
 --driver-library-path --driver-class-path --executor-memory --proxy-user --remote --driver-cores --kill \
 --status --total-executor-cores --executor-cores --num-executors --principal --keytab --queue "

derby_home() {
  # The folder the job's Derby metastore keeps derby.log in: that of the lakehouse its options select
  # (--table-root, --env, --set table_root=..., $LAKEWATCH_TABLE_ROOT), as lakewatch.layout resolves it without
  # Spark; $LAKEWATCH_DERBY_HOME overrides it. Prints nothing when the job's config does not load: the job
  # then stops with a usage error naming the problem.
  if [[ -n ${LAKEWATCH_DERBY_HOME:-} ]]; then
    echo "$LAKEWATCH_DERBY_HOME"
    return
  fi
  "$VENV/bin/python" -m lakewatch.layout --derby-home "$@" 2> /dev/null || true
}

ensure_data_docs_assets() {
  # The CSS and JavaScript Great Expectations' Data Docs load from CDNs, as npm packages of the versions its
  # templates name (conf/data_docs/package.json), so the docs render on a network without the internet
  # (lakewatch.data_docs). Installed once from the npm registry; without npm the docs keep their CDN links.
  local dir="$VENV/lakewatch-data-docs" stamp
  stamp=$(sha256sum "$ROOT/conf/data_docs/package.json" | cut -d' ' -f1)
  [[ -f $dir/.stamp && $(cat "$dir/.stamp") == "$stamp" ]] && return
  if ! command -v npm > /dev/null; then
    log "npm is missing: Data Docs will load their styles from the network (install nodejs/npm, run setup again)"
    return
  fi
  log "installing the Data Docs' CSS and JavaScript from the npm registry (first run only)"
  mkdir -p "$dir"
  cp "$ROOT/conf/data_docs/package.json" "$dir/package.json"
  (cd "$dir" && npm install --no-audit --no-fund --legacy-peer-deps --ignore-scripts --no-package-lock \
    --loglevel=error > "$dir/npm.log" 2>&1) || { cat "$dir/npm.log" >&2; die "npm could not install conf/data_docs/package.json"; }
  echo "$stamp" > "$dir/.stamp"
}

ensure_browser() {
  # The browser tests (tests/dashboard/test_browser.py) drive Debian's Chromium with its own chromedriver, so
  # Selenium never downloads a driver, and the report tests (tests/reporting) render the PDF's pages with poppler's
  # pdftoppm; install what is missing (the tests that need it are skipped, with the reason, without).
  local packages=()
  [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] || packages+=(chromium chromium-driver)
  command -v pdftoppm > /dev/null || packages+=(poppler-utils)
  (( ${#packages[@]} )) || return 0
  local sudo=""
  [[ $(id -u) == 0 ]] || sudo=$(command -v sudo || true)
  if [[ $(id -u) == 0 || -n $sudo ]] && command -v apt-get > /dev/null; then
    log "installing ${packages[*]} for the browser and report tests (once)"
    # A fresh machine may have no package lists yet: update them once if the first try fails.
    { $sudo apt-get install -y -q "${packages[@]}" > /dev/null 2>&1 \
      || { $sudo apt-get update -q > /dev/null && $sudo apt-get install -y -q "${packages[@]}" > /dev/null; }; } \
      || log "could not install ${packages[*]}; the tests that need them will be skipped"
  else
    log "${packages[*]} missing and apt-get not usable here: the tests that need them will be skipped"
  fi
}

# Jobs that run on the environment's Python directly: servers that read the Delta tables with deltalake/DuckDB
# (spark-submit would start a JVM only to launch their Python), the report (the same readers), feedback (one
# verdict appended with deltalake), workflows (YAML in, YAML out), and sql_server, whose driver is Spark's Thrift
# server rather than a Python script (the job builds that spark-submit itself).
PYTHON_JOBS=" api dashboard feedback report sql_server workflows "

is_python_job() {
  [[ $PYTHON_JOBS == *" $1 "* ]]
}

run_python_job() {
  local job=$1; shift
  exec "$VENV/bin/python" "$ROOT/jobs/$job.py" "$@"
}

default_driver_memory() {
  # Spark's own default heap is 1 GB whatever the machine; in local mode the driver's heap is every task's, so
  # size it from the memory there is: a third of it (8 GB on 24 GiB), leaving the rest to the Python workers,
  # the page cache and other processes. --driver-memory or --conf spark.driver.memory=... overrides it.
  awk '/^MemTotal:/ { gb = int($2 / 1048576 / 3); if (gb < 1) gb = 1; print gb "g"; exit }' /proc/meminfo 2> /dev/null \
    || echo 1g
}

is_local_master() {
  # Whether the spark options given ("--master X" among them) run the job in local mode.
  while [[ $# -gt 0 ]]; do
    [[ $1 == --master ]] && { [[ ${2:-} == local* ]]; return; }
    shift
  done
  return 1
}

derby_client_jar() {
  # The catalog's JDBC driver (Derby's client): the metastore loads it through the driver JVM's own class
  # path, where --jars does not reach (lakewatch.catalog).
  tr ',' '\n' < "$JARS_FILE" | grep '/derbyclient-[^/]*\.jar$' || true
}

ENV_PYTHON=./environment/bin/python

pack_env() {
  # Build the wheel of this checkout and pack it with what executors import into $ROOT/dist/lakewatch-env.tar.gz
  # (lakewatch.shipping), for clusters whose nodes lack the packages: jobs ship it with --python-env.
  # Options: --out ARCHIVE, --driver (also what a cluster-mode driver imports), --package NAME (lakewatch.shipping).
  local wheel
  rm -f "$ROOT"/dist/lakewatch-*.whl
  "$VENV/bin/python" -m pip wheel --quiet --no-deps --no-build-isolation -w "$ROOT/dist" "$ROOT" > /dev/null
  wheel=$(ls "$ROOT"/dist/lakewatch-*.whl)
  "$VENV/bin/python" -m lakewatch.shipping --wheel "$wheel" --out "$ROOT/dist/lakewatch-env.tar.gz" "$@"
}

standalone_master() {
  [[ $1 == spark://* ]]
}

cluster_driver_conf() {
  # What a driver started on the cluster (YARN cluster deploy mode) needs from here: the catalog (the table
  # root's server, started now if needed, or the Hive metastore service), as an environment setting of the
  # application master. Prints one --conf value; the job's options (table root, --env) select the catalog.
  local setting
  setting=$("$VENV/bin/python" -m lakewatch.catalog env "$@") || die "the job's catalog is not available (above)"
  echo "spark.yarn.appMasterEnv.$setting"
}

run_job() {
  local job=$1; shift
  local script="$ROOT/jobs/$job.py"
  [[ -f $script ]] || { list_jobs >&2; die "unknown job '$job' (no jobs/$job.py)"; }
  local spark_args=() job_args=() has_master=0 has_memory=0 cluster_mode=0 master=${LAKEWATCH_MASTER:-local[*]}
  local python_env=""
  while [[ $# -gt 0 ]]; do
    if [[ $1 == --python-env ]]; then
      # The launcher's own option: an archive made by pack-env, unpacked on every executor as ./environment.
      [[ $# -ge 2 && -f $2 ]] || die "--python-env needs an existing archive (./spark-submit.sh pack-env makes one)"
      python_env=$2; shift 2
    elif [[ $SPARK_VALUE_OPTS == *" $1 "* ]]; then
      [[ $# -ge 2 ]] || die "spark option $1 needs a value"
      [[ $1 == --master ]] && { has_master=1; master=$2; }
      [[ $1 == --driver-memory || ($1 == --conf && $2 == spark.driver.memory=*) ]] && has_memory=1
      [[ $1 == --deploy-mode && $2 == cluster ]] && cluster_mode=1
      spark_args+=("$1" "$2"); shift 2
    else
      job_args+=("$1"); shift
    fi
  done
  [[ $has_master == 1 ]] || spark_args+=(--master "$master")
  if [[ $has_memory == 0 && -z ${SPARK_DRIVER_MEMORY:-} ]] && is_local_master "${spark_args[@]}"; then
    spark_args+=(--driver-memory "$(default_driver_memory)")
  fi
  if [[ $cluster_mode == 1 ]] && standalone_master "$master"; then
    die "a standalone master ($master) runs Python drivers in client deploy mode only (Spark: \"Cluster deploy mode is currently not supported for python applications on standalone clusters\"): drop --deploy-mode cluster, or use --master yarn --deploy-mode cluster"
  fi
  local executor_python=$PYSPARK_PYTHON driver_python=$PYSPARK_DRIVER_PYTHON
  if [[ -n $python_env ]]; then
    executor_python=$ENV_PYTHON
    spark_args+=(--archives "$python_env#environment")
  fi
  local sharing="" derby=""
  # The archive and the Derby home are this machine's: a driver started elsewhere (cluster deploy mode) goes
  # without; it is told where the catalog is instead, and runs the shipped environment when there is one.
  if [[ $cluster_mode == 0 ]]; then
    sharing=$(class_sharing_option)
    derby=$(derby_home ${job_args[@]+"${job_args[@]}"})
  else
    spark_args+=(--conf "$(cluster_driver_conf ${job_args[@]+"${job_args[@]}"})")
    if [[ -n $python_env ]]; then
      driver_python=$ENV_PYTHON
      spark_args+=(--conf "spark.yarn.appMasterEnv.PYSPARK_PYTHON=$ENV_PYTHON")
    fi
  fi
  local submit=("$SPARK_HOME/bin/spark-submit"
    --jars "$(cat "$JARS_FILE")"
    --conf "spark.pyspark.python=$executor_python"
    --conf "spark.pyspark.driver.python=$driver_python"
    --driver-class-path "$(derby_client_jar)"
    --driver-java-options "${derby:+-Dderby.system.home=$derby }$(log_config_option) $sharing"
    "${spark_args[@]}" "$script" ${job_args[@]+"${job_args[@]}"})
  if [[ $sharing != *ArchiveClassesAtExit* ]]; then
    exec "${submit[@]}"
  fi
  log "recording the classes this job loads, for faster starts of later jobs (once; ~12 s as it exits)"
  # Not exec'd, to put the archive in place afterwards: a signal to this script is passed on to the job.
  local child status=0
  "${submit[@]}" < /dev/stdin &
  child=$!
  trap 'kill -TERM "$child" 2> /dev/null || true' TERM INT HUP
  until wait "$child"; status=$?; ! kill -0 "$child" 2> /dev/null; do :; done
  trap - TERM INT HUP
  record_class_sharing "$status"
  return "$status"
}

# Airflow lives in its own environment: its pins do not fit the project's (and its Spark provider's pyspark-client
# would clash with pyspark). Created on first use from orchestration/airflow/requirements.txt, the full resolved
# pin list, installed without dependency resolution; stamped like the main one.
AIRFLOW_VENV=${LAKEWATCH_AIRFLOW_VENV:-$ROOT/.venv-airflow}
AIRFLOW_REQUIREMENTS="$ROOT/orchestration/airflow/requirements.txt"

ensure_airflow_venv() {
  local stamp_file="$AIRFLOW_VENV/.lakewatch-stamp" want
  want=$(sha256sum "$AIRFLOW_REQUIREMENTS" | cut -d' ' -f1)
  if [[ -f $stamp_file && $(cat "$stamp_file") == "$want" ]]; then
    return
  fi
  log "creating Airflow's environment in $AIRFLOW_VENV (first use only; a minute or two)"
  [[ -x $AIRFLOW_VENV/bin/python ]] || "$PY" -m venv "$AIRFLOW_VENV"
  "$AIRFLOW_VENV/bin/python" -m pip install --quiet --no-deps -r "$AIRFLOW_REQUIREMENTS" \
    || die "pip could not install $AIRFLOW_REQUIREMENTS into $AIRFLOW_VENV"
  # Without $PYTHONPATH: a lib/ on it would add lakewatch's own metadata, whose requirements live in the main venv.
  env -u PYTHONPATH "$AIRFLOW_VENV/bin/python" -m pip check > /dev/null \
    || die "$AIRFLOW_REQUIREMENTS is not a consistent set of pins ($AIRFLOW_VENV/bin/python -m pip check says why)"
  echo "$want" > "$stamp_file"
}

run_airflow() {
  # Airflow's CLI with lakewatch's settings: its home (airflow.cfg, the SQLite metadata DB, logs) is the lakehouse's
  # ($LAKEWATCH_TABLE_ROOT or the default config's; $AIRFLOW_HOME wins), the DAG folder is orchestration/airflow,
  # no example DAGs. The metadata DB is created or migrated when the Airflow pins change.
  ensure_airflow_venv
  if [[ -z ${AIRFLOW_HOME:-} ]]; then
    AIRFLOW_HOME=$("$VENV/bin/python" -m lakewatch.layout --airflow-home) || die "no Airflow home: the config does not load"
  fi
  export AIRFLOW_HOME LAKEWATCH_VENV="$VENV"
  export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/orchestration/airflow"
  export AIRFLOW__CORE__LOAD_EXAMPLES=False
  mkdir -p "$AIRFLOW_HOME"
  local migrated="$AIRFLOW_HOME/.lakewatch-migrated"
  if [[ ! -f $migrated || $(cat "$migrated") != $(cat "$AIRFLOW_VENV/.lakewatch-stamp") ]]; then
    log "preparing Airflow's metadata database in $AIRFLOW_HOME"
    "$AIRFLOW_VENV/bin/airflow" db migrate > "$AIRFLOW_HOME/db-migrate.log" 2>&1 \
      || { tail -n 30 "$AIRFLOW_HOME/db-migrate.log" >&2; die "airflow db migrate failed"; }
    cp "$AIRFLOW_VENV/.lakewatch-stamp" "$migrated"
  fi
  exec "$AIRFLOW_VENV/bin/airflow" "$@"
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
  ensure_data_docs_assets
  if is_python_job "$cmd"; then
    run_python_job "$cmd" "$@"
  fi
  case $cmd in
    setup) log "environment ready: $VENV" ;;
    test) ensure_browser; cd "$ROOT" && exec "$VENV/bin/python" -m pytest "$@" ;;
    catalog) exec "$VENV/bin/python" -m lakewatch.catalog "$@" ;;
    airflow) run_airflow "$@" ;;
    pack-env) pack_env "$@" ;;
    spark-sql)
      local conf conf_args
      conf=$("$VENV/bin/python" -m lakewatch.spark) || exit 1  # it said why: the catalog cannot be reached
      mapfile -t conf_args <<< "$conf"
      exec "$SPARK_HOME/bin/spark-sql" --master "${LAKEWATCH_MASTER:-local[*]}" --jars "$(cat "$JARS_FILE")" \
        "${conf_args[@]}" "$@" ;;
    *) run_job "$cmd" "$@" ;;
  esac
}

# Sourced (by tests/test_launcher.py), it only defines its functions and settings.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
