SELECT seller, CAST(AVG(price) AS BIGINT) AS avg_price
FROM (
    SELECT seller, price,
           ROW_NUMBER() OVER (PARTITION BY seller ORDER BY date_time DESC, id DESC) AS recent
    FROM (
        SELECT a.id, a.seller, b.price, b.date_time,
               ROW_NUMBER() OVER (PARTITION BY a.id, a.seller
                                  ORDER BY b.price DESC, b.date_time ASC, b.bidder ASC) AS rownum
        FROM auction AS a, bid AS b
        WHERE a.id = b.auction AND b.date_time BETWEEN a.date_time AND a.expires
    ) AS winning
    WHERE rownum <= 1
) AS q
WHERE recent <= 11
GROUP BY seller
