"""Reads a Parquet sink's directory with Apache Spark (local mode, not ours), the way a user
would: the files its _manifest.json lists, Hive partitions from the paths (basePath). Prints the
rows of a Spark SQL query over them, one per line, values joined by '|'.

Usage: spark_query.py DIR SQL   (SQL reads the view `t`)
"""

import sys

from pyspark.sql import SparkSession

from sink_manifest import listed_files


def main():
    directory, sql = sys.argv[1], sys.argv[2]
    files = listed_files(directory)
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("illunare-parquet-check")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        frame = spark.read.option("basePath", directory).parquet(*files)
        frame.createOrReplaceTempView("t")
        for row in spark.sql(sql).collect():
            print("|".join("NULL" if v is None else str(v) for v in row))
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
