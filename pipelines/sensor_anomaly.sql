-- Sensor anomalies on a plant floor, read straight from the machines.
--
-- A press line PLC over Modbus TCP (register map in pipelines/maps/press.toml) and a boiler's
-- OPC UA server feed one stream of readings (sensor, value, ts). Two checks run on it:
--   * a windowed z-score: a reading more than 4 standard deviations from its sensor's mean
--     over the last 30 seconds (at least 20 readings in the window);
--   * a flat line: a sensor that reported at least 20 readings in the last 5 seconds, all equal
--     (a stuck transmitter or a frozen PLC register).
-- Alerts are appended to out/sensor_alerts.jsonl; every failed Modbus poll and bad OPC UA status is kept
-- in press_line_errors / boiler rows with their quality, so a silent device is visible too.
--
-- Run it against the interop peers (scripts/peers.sh installs them):
--   python tests/peers/modbus_server.py --port 5020 &  python tests/peers/opcua_server.py --port 4840 &
--   illunare run pipelines/sensor_anomaly.sql

CREATE SOURCE press_line (device VARCHAR, temperature DOUBLE, pressure DOUBLE, running BOOLEAN,
                          cycles BIGINT, quality VARCHAR, ts TIMESTAMP,
                          WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
  WITH (connector = 'modbus', devices = '127.0.0.1:5020/4', poll_interval = '100ms',
        map = 'pipelines/maps/press.toml', timeout = '1s', retries = '3');

CREATE SOURCE boiler (node VARCHAR, value DOUBLE, status VARCHAR, source_ts TIMESTAMP,
                      WATERMARK FOR source_ts AS source_ts - INTERVAL '1' SECOND)
  WITH (connector = 'opcua', endpoint = 'opc.tcp://127.0.0.1:4840/',
        nodes = 'ns=2;s=Vibration, ns=2;s=Counter, /Objects/2:Plant/**/Temperature',
        mode = 'subscribe', sampling_interval = '100ms', source_ts_fallback = 'server');

-- Good readings only: a failed poll or a bad status has no value to judge.
CREATE VIEW readings AS
  SELECT device || '/temperature' AS sensor, temperature AS value, ts FROM press_line WHERE quality = 'good'
  UNION ALL
  SELECT device || '/pressure' AS sensor, pressure AS value, ts FROM press_line WHERE quality = 'good'
  UNION ALL
  SELECT node AS sensor, value, source_ts AS ts FROM boiler WHERE status = 'Good' AND value IS NOT NULL;

-- Each reading with its sensor's recent statistics, maintained per sensor in event-time order;
-- rows older than the frames reach are forgotten as the watermark passes.
CREATE VIEW scored AS
  SELECT sensor, ts, value,
         avg(value)    OVER (PARTITION BY sensor ORDER BY ts RANGE BETWEEN INTERVAL '30' SECOND PRECEDING AND CURRENT ROW) AS mean_30s,
         stddev(value) OVER (PARTITION BY sensor ORDER BY ts RANGE BETWEEN INTERVAL '30' SECOND PRECEDING AND CURRENT ROW) AS sd_30s,
         count(*)      OVER (PARTITION BY sensor ORDER BY ts RANGE BETWEEN INTERVAL '30' SECOND PRECEDING AND CURRENT ROW) AS n_30s,
         max(value)    OVER (PARTITION BY sensor ORDER BY ts RANGE BETWEEN INTERVAL '5' SECOND PRECEDING AND CURRENT ROW) AS max_5s,
         min(value)    OVER (PARTITION BY sensor ORDER BY ts RANGE BETWEEN INTERVAL '5' SECOND PRECEDING AND CURRENT ROW) AS min_5s,
         count(*)      OVER (PARTITION BY sensor ORDER BY ts RANGE BETWEEN INTERVAL '5' SECOND PRECEDING AND CURRENT ROW) AS n_5s
  FROM readings;

CREATE VIEW alerts AS
  SELECT sensor, ts, value, 'z_score' AS kind, (value - mean_30s) / sd_30s AS score
  FROM scored
  WHERE n_30s >= 20 AND sd_30s > 0 AND abs(value - mean_30s) > 4 * sd_30s
  UNION ALL
  SELECT sensor, ts, value, 'flat_line' AS kind, CAST(n_5s AS DOUBLE) AS score
  FROM scored
  WHERE n_5s >= 20 AND max_5s = min_5s;

CREATE SINK sensor_alerts FROM alerts
  WITH (connector = 'file', path = 'out/sensor_alerts.jsonl', format = 'jsonl', mode = 'changelog');
