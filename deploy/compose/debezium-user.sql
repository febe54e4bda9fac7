-- The account Debezium's MySQL connector reads the binary log with, holding
-- only the grants the connector needs. The password matches CDC_DB_PASSWORD in
-- docker-compose.yml; change both together.
CREATE USER IF NOT EXISTS 'debezium'@'%' IDENTIFIED BY 'dbz';
GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT, LOCK TABLES ON *.* TO 'debezium'@'%';
FLUSH PRIVILEGES;
