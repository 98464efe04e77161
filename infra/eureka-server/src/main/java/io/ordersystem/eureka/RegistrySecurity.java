package io.ordersystem.eureka;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.HttpMethod;
import org.springframework.security.config.Customizer;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.config.http.SessionCreationPolicy;
import org.springframework.security.core.userdetails.User;
import org.springframework.security.core.userdetails.UserDetailsService;
import org.springframework.security.crypto.password.PasswordEncoder;
import org.springframework.security.provisioning.InMemoryUserDetailsManager;
import org.springframework.security.web.SecurityFilterChain;

/**
 * Who may use the registry. Every client (the services, the gateway, Prometheus) sends the one
 * set of credentials, EUREKA_USERNAME / EUREKA_PASSWORD, as HTTP basic auth; without them the
 * whole REST API under /eureka/ answers 401: register, renew, cancel and status changes, which
 * would let anyone redirect or drop traffic, and the reads too, which map every internal address.
 * Only the probes (/actuator/health) and the metrics (/actuator/prometheus) stay open.
 */
@Configuration(proxyBeanMethods = false)
public class RegistrySecurity {

    @Bean
    SecurityFilterChain registryFilterChain(HttpSecurity http) throws Exception {
        http.authorizeHttpRequests(requests -> requests
                        .requestMatchers(
                                HttpMethod.GET,
                                "/actuator/health",
                                "/actuator/health/**",
                                "/actuator/prometheus")
                        .permitAll()
                        .anyRequest()
                        .authenticated())
                .httpBasic(Customizer.withDefaults())
                // The REST clients authenticate every request and keep no cookie, so there is no
                // session to ride on; the dashboard has no form that changes anything.
                .csrf(csrf -> csrf.ignoringRequestMatchers("/eureka/**"))
                .sessionManagement(
                        sessions -> sessions.sessionCreationPolicy(SessionCreationPolicy.STATELESS));
        return http.build();
    }

    @Bean
    UserDetailsService registryClients(
            @Value("${registry.username}") String username,
            @Value("${registry.password}") String password,
            PasswordEncoder encoder) {
        if (username.isBlank() || password.isBlank()) {
            throw new IllegalStateException("EUREKA_USERNAME and EUREKA_PASSWORD must be set");
        }
        return new InMemoryUserDetailsManager(
                User.withUsername(username)
                        .password(encoder.encode(password))
                        .roles("REGISTRY_CLIENT")
                        .build());
    }

    @Bean
    PasswordEncoder registryPasswordEncoder() {
        return new Sha256PasswordEncoder();
    }

    /**
     * The password is a machine secret checked on every heartbeat and registry fetch (several a
     * second), not a person's password: a slow hash such as bcrypt would cost tens of milliseconds
     * of CPU each time. A SHA-256 digest compared in constant time is enough for a long random
     * secret and leaks nothing through timing.
     */
    static final class Sha256PasswordEncoder implements PasswordEncoder {

        @Override
        public String encode(CharSequence rawPassword) {
            return HexFormat.of().formatHex(digest(rawPassword));
        }

        @Override
        public boolean matches(CharSequence rawPassword, String encodedPassword) {
            if (rawPassword == null || encodedPassword == null) {
                return false;
            }
            byte[] expected = encodedPassword.getBytes(StandardCharsets.US_ASCII);
            byte[] actual = encode(rawPassword).getBytes(StandardCharsets.US_ASCII);
            return MessageDigest.isEqual(expected, actual);
        }

        private static byte[] digest(CharSequence value) {
            try {
                return MessageDigest.getInstance("SHA-256")
                        .digest(value.toString().getBytes(StandardCharsets.UTF_8));
            } catch (NoSuchAlgorithmException impossible) {
                throw new IllegalStateException("SHA-256 is part of every JRE", impossible);
            }
        }
    }
}
