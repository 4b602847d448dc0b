SELECT auction, bidder, CAST(CAST(0.908 AS DECIMAL(4, 3)) * price AS DECIMAL(23, 3)) AS price, date_time, extra FROM bid
