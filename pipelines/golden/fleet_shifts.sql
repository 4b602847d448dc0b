-- Fleet: per vehicle and driver, readings while driving, top speed, share of time speeding.
CREATE SOURCE fleet (vehicle VARCHAR, driver VARCHAR, speed DOUBLE, engine_on BOOLEAN, ts TIMESTAMP)
  WITH (connector = 'generator', kind = 'fleet', rows = '30000', seed = '2', vehicles = '12', interval = '1s');

CREATE VIEW driving AS
  SELECT vehicle, driver, count(*) AS readings, max(speed) AS top_speed,
         round(avg(speed), 4) AS mean_speed,
         round(avg(CASE WHEN speed > 80 THEN 1.0 ELSE 0.0 END), 6) AS speeding_share
  FROM fleet WHERE engine_on GROUP BY vehicle, driver;

CREATE VIEW fastest AS
  SELECT vehicle, driver, top_speed FROM driving ORDER BY top_speed DESC, vehicle, driver LIMIT 5;

CREATE VIEW idle AS
  SELECT vehicle, count(*) AS parked_readings FROM fleet WHERE NOT engine_on GROUP BY vehicle;

CREATE VIEW by_hour AS
  SELECT date_part('hour', ts) AS hour, count(*) AS n, bool_or(speed > 100) AS any_over_100
  FROM fleet GROUP BY 1;
