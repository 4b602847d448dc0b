-- Sensor health: per device and metric, reading statistics; devices whose temperature
-- average is above the fleet's; a device dimension kept as a table with updates.
CREATE SOURCE readings (device VARCHAR, metric VARCHAR, value DOUBLE, ts TIMESTAMP)
  WITH (connector = 'generator', kind = 'devices', rows = '40000', seed = '5', devices = '20');

CREATE TABLE devices (device VARCHAR PRIMARY KEY, site VARCHAR, active BOOLEAN);
INSERT INTO devices VALUES ('dev-0001', 'north', true), ('dev-0002', 'north', true), ('dev-0003', 'south', true),
  ('dev-0004', 'south', false), ('dev-0005', 'east', true);
UPDATE devices SET active = true WHERE device = 'dev-0004';
DELETE FROM devices WHERE device = 'dev-0005';

CREATE VIEW stats AS
  SELECT device, metric, count(*) AS n, round(avg(value), 6) AS mean, round(stddev(value), 6) AS sd,
         min(value) AS lo, max(value) AS hi
  FROM readings GROUP BY device, metric;

CREATE VIEW hot AS
  SELECT device, mean FROM stats
  WHERE metric = 'temperature' AND mean > (SELECT avg(mean) FROM stats WHERE metric = 'temperature');

CREATE VIEW per_site AS
  SELECT d.site, r.metric, count(*) AS n, round(avg(r.value), 6) AS mean
  FROM readings r JOIN devices d ON r.device = d.device
  WHERE d.active GROUP BY d.site, r.metric;

CREATE VIEW unregistered AS
  SELECT DISTINCT device FROM readings WHERE device NOT IN (SELECT device FROM devices);
